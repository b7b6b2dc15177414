"""Offer/answer and ICE for a room's peer connections, nothing about feeds.

``PeerConnections`` holds each participant's ``pub`` and ``sub`` connections, decides
whether an offer renegotiates the connection already up or replaces it, answers it
(the caller prepares transceivers before and after the remote description is set), adds
the browser's candidates, and closes connections. Bad SDP or candidates raise
``NegotiationFailed`` with a stable code; nothing reaches the log as a traceback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from server.ids import ParticipantId, RoomId
from server.media.errors import NegotiationFailed
from server.media.ice import IcePolicy, configure_peer

logger = logging.getLogger(__name__)

PcName = Literal["pub", "sub"]
KINDS = ("audio", "video")
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}

_MLINE = re.compile(r"^m=(audio|video|application) ", re.MULTILINE)
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)

Key = tuple[ParticipantId, PcName]


def codec_preferences(kind: str) -> list[Any]:
    """The codecs forwarded for ``kind``: VP8 (with RTX) and Opus, nothing to transcode."""
    wanted = FORWARDED_CODECS[kind]
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


def offered_kinds(sdp: str) -> list[str]:
    """The media kinds of an SDP's m-lines, in order (``application`` left out)."""
    return [kind for kind in _MLINE.findall(sdp) if kind in KINDS]


def parse_candidate(line: str) -> Any:
    """A browser's candidate line as aiortc's ``RTCIceCandidate``, or ``NegotiationFailed``.

    aioice asserts that a line has eight fields and parses ports and addresses lazily: a
    line it cannot use must fail here, not later in its connectivity checks.
    """
    try:
        parsed = candidate_from_sdp(line.removeprefix("candidate:"))
    except (ValueError, IndexError, AssertionError) as exc:
        raise NegotiationFailed("bad_candidate", detail=str(exc) or "too few fields") from None
    if not 0 < parsed.port < 65536 or not 0 < parsed.component < 257:
        raise NegotiationFailed("candidate_port")
    if not str(parsed.ip).endswith(".local"):  # mDNS names are what browsers hide IPs behind
        try:
            ipaddress.ip_address(parsed.ip)
        except ValueError:
            raise NegotiationFailed("candidate_address") from None
    return parsed


def _ufrag(sdp: str | None) -> str | None:
    match = _UFRAG.search(sdp or "")
    return match.group(1) if match else None


class PeerConnections:
    """A room's peer connections by (participant, ``pub``/``sub``), and how they negotiate."""

    def __init__(
        self,
        room_id: RoomId,
        policy: IcePolicy,
        on_lost: Callable[[ParticipantId, PcName], Awaitable[None]],
    ) -> None:
        self.room_id = room_id
        self._policy = policy
        self._on_lost = on_lost
        self._pcs: dict[Key, RTCPeerConnection] = {}

    def __len__(self) -> int:
        return len(self._pcs)

    def get(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection | None:
        return self._pcs.get((participant, name))

    def connections(self) -> list[Key]:
        return list(self._pcs)

    def subscribers(self) -> Iterator[tuple[ParticipantId, RTCPeerConnection]]:
        """Every ``sub`` connection with its owner."""
        for (owner, name), pc in self._pcs.items():
            if name == "sub":
                yield owner, pc

    def reusable(self, participant: ParticipantId, name: PcName, offer_sdp: str) -> bool:
        """A ``sub`` offer from the connection already up (same ICE credentials):
        renegotiate it in place rather than replace it."""
        existing = self._pcs.get((participant, name))
        return (
            name == "sub"
            and existing is not None
            and existing.signalingState == "stable"
            and existing.connectionState not in ("failed", "closed")
            and existing.remoteDescription is not None
            and _ufrag(existing.remoteDescription.sdp) == _ufrag(offer_sdp)
        )

    def open(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection:
        """A new connection for ``(participant, name)`` (the old one must be closed first)."""
        pc = RTCPeerConnection(self._policy.rtc_configuration())
        self._pcs[(participant, name)] = pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            logger.debug(
                "room %s: %s/%s is %s", self.room_id, participant, name, pc.connectionState
            )
            if (
                pc.connectionState in ("failed", "closed")
                and self._pcs.get((participant, name)) is pc
            ):
                await self._on_lost(participant, name)

        return pc

    async def answer(
        self,
        participant: ParticipantId,
        name: PcName,
        pc: RTCPeerConnection,
        offer_sdp: str,
        before: Callable[[], None],
        after: Callable[[], None],
    ) -> str:
        """Answer ``offer_sdp`` on ``pc``: ``before`` runs before the remote description
        is set, ``after`` once it is. Raises ``NegotiationFailed`` (the caller closes)."""
        try:
            before()
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            after()
            configure_peer(pc, self._policy)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            raise NegotiationFailed("negotiation", detail=str(exc) or type(exc).__name__) from None
        except Exception as exc:  # aiortc raises its own error classes for bad SDP
            logger.info(
                "room %s: negotiation failed for %s/%s: %s", self.room_id, participant, name, exc
            )
            raise NegotiationFailed("negotiation", detail=str(exc) or type(exc).__name__) from None
        return str(pc.localDescription.sdp)

    async def add_candidate(
        self, participant: ParticipantId, name: PcName, candidate: dict[str, Any] | None
    ) -> None:
        pc = self._pcs.get((participant, name))
        if pc is None or candidate is None or not candidate.get("candidate"):
            return
        parsed = parse_candidate(str(candidate["candidate"]))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        with contextlib.suppress(ValueError):
            await pc.addIceCandidate(parsed)

    def pop(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection | None:
        return self._pcs.pop((participant, name), None)
