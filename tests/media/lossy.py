"""Packet loss between the server and a test peer, in user space (the kernel has no netem).

``drop_incoming`` wraps the read side of a test peer's ICE transport: a share of the
SRTP (media, not RTCP) datagrams the peer receives is thrown away before its DTLS
transport sees them, as a lossy network would. The share holds for each stream (SSRC),
at seeded random spacing: drawing each packet independently, a few seconds of video at
3 % lost as few as 2 packets in one CI run, too few to prove anything. Retransmissions
(``spare`` payload types) can be spared: aiortc's receiver NACKs a missing packet again
only when a new gap appears, so a lost retransmission would measure aiortc's receiver,
not the server.
"""

from __future__ import annotations

import random
from collections import Counter

from aiortc import RTCPeerConnection
from aiortc.rtp import is_rtcp

from server.media.aiortc_compat import filter_incoming


class Loss:
    def __init__(self, rate: float, seed: int, spare: frozenset[int]) -> None:
        self.rate = rate
        self._spare = spare
        self._random = random.Random(seed)
        self.passed = 0
        self.dropped = 0
        self.dropped_by_ssrc: Counter[int] = Counter()  # the SRTP header is in the clear
        self._credit: dict[int, float] = {}  # per SSRC: a packet is lost when it reaches 1

    def keep(self, data: bytes) -> bool:
        if not 127 < data[0] < 192 or is_rtcp(data) or (data[1] & 0x7F) in self._spare:
            return True
        ssrc = int.from_bytes(data[8:12], "big")
        # Each packet adds ``rate`` on average (0 to 2x, seeded): the spacing varies, the
        # share lost over a stream stays within a packet or two of ``rate``.
        credit = self._credit.get(ssrc, self._random.random()) + 2 * self.rate * (
            self._random.random()
        )
        if credit >= 1.0:
            self._credit[ssrc] = credit - 1.0
            self.dropped += 1
            self.dropped_by_ssrc[ssrc] += 1
            return False
        self._credit[ssrc] = credit
        self.passed += 1
        return True


def drop_incoming(
    pc: RTCPeerConnection, rate: float, seed: int = 12, spare: frozenset[int] = frozenset()
) -> Loss:
    """Lose ``rate`` of the RTP packets ``pc`` receives (call after negotiation), never
    those with a payload type in ``spare``."""
    loss = Loss(rate, seed, spare)
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        if id(ice) not in seen:
            seen.add(id(ice))
            filter_incoming(ice, loss.keep)
    return loss
