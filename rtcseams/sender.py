"""The send side: writing a subscriber's RTP/RTCP straight to its DTLS transport
(``SrtpOut``), taking over a sender (``SenderTap``) and hearing its keyframe requests.

``SenderTap`` quiets a sender's own RTCP loop (the packet path sends sender reports
rewritten from the publisher's), hands the subscriber's RTCP to a callback, and says when
the sender starts with which negotiated parameters. ``SrtpOut`` protects and writes one
datagram synchronously (no task, no await) on the DTLS transport's nominated ICE pair.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import AnyRtcpPacket, RtcpPsfbPacket, RtcpRtpfbPacket

from rtcseams.guards import Count, Guard, uncounted
from rtcseams.receiver import RtcpCallback


class _Srtp(Protocol):
    def protect(self, packet: bytes) -> bytes: ...
    def protect_rtcp(self, packet: bytes) -> bytes: ...


class _Datagrams(Protocol):
    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class _StunProtocol(Protocol):
    transport: _Datagrams


class _CandidatePair(Protocol):
    protocol: _StunProtocol
    remote_addr: tuple[str, int]


class _IceConnection(Protocol):
    _nominated: dict[int, _CandidatePair]


class SrtpOut:
    """Writes RTP/RTCP to the far end of a sender's DTLS transport, synchronously.

    The transport is looked up on each write: with BUNDLE, aiortc moves a sender onto
    the first m-line's transport after negotiation.
    """

    __slots__ = ("_sender",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender

    def _pair(self) -> tuple[_Srtp, _CandidatePair] | None:
        dtls: Any = self._sender.transport
        if dtls._state is not State.CONNECTED:
            return None
        ice: _IceConnection = dtls.transport._connection
        pair = ice._nominated.get(1)
        return (dtls._tx_srtp, pair) if pair is not None else None

    def send_rtp(self, data: bytes) -> bool:
        """Protect and send one RTP packet; False when the transport is not connected."""
        found = self._pair()
        if found is None:
            return False
        srtp, pair = found
        pair.protocol.transport.sendto(srtp.protect(data), pair.remote_addr)
        return True

    def send_rtcp(self, data: bytes) -> bool:
        """The same for a compound RTCP packet."""
        found = self._pair()
        if found is not None:
            found[1].protocol.transport.sendto(found[0].protect_rtcp(data), found[1].remote_addr)
        return found is not None

    def backlog(self) -> int:
        """Bytes queued in user space because the socket would block (0 when writable)."""
        found = self._pair()
        return found[1].protocol.transport.get_write_buffer_size() if found is not None else 0


class SenderTap:
    """A subscriber's sender whose packets the forwarder writes itself."""

    def __init__(
        self,
        sender: RTCRtpSender,
        on_start: Callable[[RTCRtpSendParameters], None],
        on_rtcp: RtcpCallback,
        count: Count = uncounted,
    ) -> None:
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        s: Any = sender
        original_send: Callable[[RTCRtpSendParameters], Awaitable[None]] = s.send
        original_rtcp: Callable[[AnyRtcpPacket], Awaitable[None]] = s._handle_rtcp_packet
        started: asyncio.Event = s._RTCRtpSender__rtcp_started
        exited: asyncio.Event = s._RTCRtpSender__rtcp_exited

        async def send(parameters: RTCRtpSendParameters) -> None:
            first = s._RTCRtpSender__rtp_task is None
            await original_send(parameters)
            if first:
                on_start(parameters)

        async def quiet_rtcp() -> None:
            # aiortc's loop would send sender reports of its own (zeros: its encoder loop
            # never runs); the forwarder sends them rewritten from the publisher's.
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.get_running_loop().create_future()
            exited.set()

        guard = self.guard = Guard("handling a subscriber's RTCP", count)

        async def handle_rtcp(packet: AnyRtcpPacket) -> None:
            try:
                on_rtcp(packet)
            except Exception:
                guard.failed()
            if isinstance(packet, RtcpRtpfbPacket | RtcpPsfbPacket):
                return  # NACK, PLI/FIR and REMB are the forwarder's
            await original_rtcp(packet)  # receiver reports: aiortc's RTT and stats

        s.send = send
        s._run_rtcp = quiet_rtcp
        s._handle_rtcp_packet = handle_rtcp
        self.out = SrtpOut(sender)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the subscriber sends PLI/FIR (aiortc only flags its encoder)."""
    cast(Any, sender)._send_keyframe = callback
