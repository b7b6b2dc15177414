"""A live room's peer connections: who publishes into which feed, who subscribes.

Each participant may hold two peer connections (as LiveKit does): ``pub`` to publish
(the host's camera and microphone) and ``sub`` to receive the room's feeds. The browser
always offers; the server answers. Video is VP8 and audio Opus on both sides, so frames
can be forwarded as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from server.ids import ParticipantId, RoomId
from server.rooms.errors import MediaFailed
from server.rooms.media_ice import IcePolicy, configure_peer
from server.rooms.media_passthrough import install, mark_passthrough
from server.rooms.media_relay import Feed
from server.settings import MediaSettings

logger = logging.getLogger(__name__)

PcName = Literal["pub", "sub"]
KINDS = ("audio", "video")
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}


def _codec_preferences(kind: str) -> list[Any]:
    wanted = FORWARDED_CODECS[kind]
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


class RoomMedia:
    """The media side of one live room."""

    def __init__(
        self,
        room_id: RoomId,
        policy: IcePolicy,
        settings: MediaSettings,
        on_live_change: Callable[[bool, ParticipantId | None], None],
    ) -> None:
        install()
        self.room_id = room_id
        self._policy = policy
        self._on_live_change = on_live_change
        self.feeds = {
            kind: Feed(kind, settings.subscriber_queue, settings.keyframe_interval)
            for kind in KINDS
        }
        for feed in self.feeds.values():
            feed.on_source_ended = self._source_ended
        self._pcs: dict[tuple[ParticipantId, PcName], RTCPeerConnection] = {}
        self.publisher: ParticipantId | None = None

    @property
    def live(self) -> bool:
        return any(feed.live for feed in self.feeds.values())

    def peer(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection | None:
        return self._pcs.get((participant, name))

    async def answer(self, participant: ParticipantId, name: PcName, offer_sdp: str) -> str:
        """Negotiate ``name`` for ``participant`` from the browser's offer; return the answer."""
        await self.stop(participant, name)
        pc = RTCPeerConnection(self._policy.rtc_configuration())
        self._pcs[(participant, name)] = pc
        try:
            if name == "pub":
                self._prepare_publisher(pc, participant)
            else:
                self._prepare_subscriber(pc)
            self._watch(pc, participant, name)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            configure_peer(pc, self._policy)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            await self.stop(participant, name)
            raise MediaFailed(str(exc) or type(exc).__name__) from None
        except Exception as exc:  # aiortc raises its own error classes for bad SDP
            await self.stop(participant, name)
            logger.info(
                "room %s: negotiation failed for %s/%s: %s", self.room_id, participant, name, exc
            )
            raise MediaFailed(str(exc) or type(exc).__name__) from None
        return str(pc.localDescription.sdp)

    def _prepare_publisher(self, pc: RTCPeerConnection, participant: ParticipantId) -> None:
        for kind in KINDS:
            pc.addTransceiver(kind, direction="recvonly").setCodecPreferences(
                _codec_preferences(kind)
            )

        @pc.on("track")
        def on_track(track: Any) -> None:
            # Fired inside setRemoteDescription, before the receiver starts its worker.
            mark_passthrough(track)
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            self.feeds[track.kind].attach(track, receiver)
            if self.publisher != participant:
                self.publisher = participant
                self._on_live_change(True, participant)

    def _prepare_subscriber(self, pc: RTCPeerConnection) -> None:
        for kind in KINDS:
            track = self.feeds[kind].subscribe()
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_codec_preferences(kind))
            # The browser's PLI/FIR must reach the publisher: the sender's own keyframe
            # flag is only read by its encoder, which forwarding never uses.
            sender: Any = transceiver.sender
            sender._send_keyframe = track.request_keyframe

    def _watch(self, pc: RTCPeerConnection, participant: ParticipantId, name: PcName) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            logger.debug(
                "room %s: %s/%s is %s", self.room_id, participant, name, pc.connectionState
            )
            if (
                pc.connectionState in ("failed", "closed")
                and self._pcs.get((participant, name)) is pc
            ):
                await self.stop(participant, name)

    async def add_candidate(
        self, participant: ParticipantId, name: PcName, candidate: dict[str, Any] | None
    ) -> None:
        pc = self._pcs.get((participant, name))
        if pc is None or candidate is None or not candidate.get("candidate"):
            return
        text = str(candidate["candidate"]).removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            raise MediaFailed(f"the ICE candidate is malformed ({exc})") from None
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        with contextlib.suppress(ValueError):
            await pc.addIceCandidate(parsed)

    async def stop(self, participant: ParticipantId, name: PcName) -> None:
        pc = self._pcs.pop((participant, name), None)
        if pc is None:
            return
        for transceiver in pc.getTransceivers():
            track = transceiver.sender.track
            if track is not None:
                track.stop()
            remote = transceiver.receiver.track
            if name == "pub" and remote is not None:
                self.feeds[remote.kind].detach(remote)
        if name == "pub" and self.publisher == participant:
            self.publisher = None
            self._on_live_change(False, None)
        await pc.close()

    async def remove(self, participant: ParticipantId) -> None:
        await asyncio.gather(self.stop(participant, "pub"), self.stop(participant, "sub"))

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(p, n) for p, n in list(self._pcs)))
        for feed in self.feeds.values():
            feed.close()

    def _source_ended(self) -> None:
        if not self.live and self.publisher is not None:
            self.publisher = None
            self._on_live_change(False, None)

    def stats(self) -> dict[str, int]:
        return {
            "peer_connections": len(self._pcs),
            "subscribers": self.feeds["video"].subscriber_count,
            "frames_in": sum(f.frames_in for f in self.feeds.values()),
        }
