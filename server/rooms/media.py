"""The room layer's door to ``server/media``: the only module of ``server/rooms`` that
names the media package's entry points, re-exported for ``signaling`` and the app.

``RoomMedia`` here is ``server.media.peers.RoomMedia`` with its refusals turned into the
room layer's ``MediaFailed`` (the wire's ``media_failed``); ``IcePolicy``,
``MediaCounters`` and ``offered_kinds`` are passed through so that nothing above
``server/rooms`` imports ``server/media``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.ids import ParticipantId
from server.media import peers
from server.media.counters import MediaCounters
from server.media.errors import NegotiationFailed
from server.media.feed import PacketFeed
from server.media.ice import IcePolicy
from server.media.negotiation import PcName, offered_kinds
from server.media.recorder import RecordingStats, WebmRecorder
from server.media.recorder_join import Span, join_webm
from server.rooms.errors import MediaFailed

__all__ = [
    "IcePolicy",
    "MediaCounters",
    "MediaFailed",
    "PcName",
    "RecordingStats",
    "RoomMedia",
    "Span",
    "WebmRecorder",
    "join_webm",
    "offered_kinds",
]


class RoomMedia(peers.RoomMedia):
    """A live room's media; a bad offer or candidate raises ``MediaFailed``."""

    recording: WebmRecorder | None = None

    def start_recording(self, path: Path) -> WebmRecorder | None:
        """Record the main feeds (the host's camera and microphone: a speaker's feeds are
        never recorded) into ``path`` until ``stop_recording``; None when already
        recording, when nothing is published, or on the frame path (no packet tap)."""
        feeds = [f for f in self.feeds.values() if isinstance(f, PacketFeed)]
        if self.recording is not None or len(feeds) != len(self.feeds) or not self.live:
            return None
        recorder = WebmRecorder(path, video=self.feeds["video"].live)
        recorder.start()
        for feed in feeds:
            feed.on_packet = recorder.tap(feed.kind)
        self.recording = recorder
        self.feeds["video"].request_keyframe()  # the file starts at a key frame
        return recorder

    async def stop_recording(self) -> RecordingStats | None:
        """Stop the tap and close the file; what was recorded (None: nothing was)."""
        recorder, self.recording = self.recording, None
        if recorder is None:
            return None
        for feed in self.feeds.values():
            if isinstance(feed, PacketFeed):
                feed.on_packet = None
        return await recorder.stop()

    async def close(self) -> None:
        """A recording still running (a room closed by a path that did not stop it) ends
        with the media: its file is closed, its thread ends."""
        await self.stop_recording()
        await super().close()

    async def answer(
        self, participant: ParticipantId, name: PcName, offer_sdp: str, *, stage: bool = False
    ) -> str:
        try:
            return await super().answer(participant, name, offer_sdp, stage=stage)
        except NegotiationFailed as exc:
            raise MediaFailed(exc.code, exc.detail) from None

    async def add_candidate(
        self, participant: ParticipantId, name: PcName, candidate: dict[str, Any] | None
    ) -> None:
        try:
            await super().add_candidate(participant, name, candidate)
        except NegotiationFailed as exc:
            raise MediaFailed(exc.code, exc.detail) from None
