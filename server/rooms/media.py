"""The room layer's door to ``server/media``: the only module of ``server/rooms`` that
names the media package's entry points, re-exported for ``signaling`` and the app.

``RoomMedia`` here is ``server.media.peers.RoomMedia`` with its refusals turned into the
room layer's ``MediaFailed`` (the wire's ``media_failed``); ``IcePolicy``,
``MediaCounters`` and ``offered_kinds`` are passed through so that nothing above
``server/rooms`` imports ``server/media``.
"""

from __future__ import annotations

from typing import Any

from server.ids import ParticipantId
from server.media import peers
from server.media.counters import MediaCounters
from server.media.errors import NegotiationFailed
from server.media.ice import IcePolicy
from server.media.negotiation import PcName, offered_kinds
from server.rooms.errors import MediaFailed

__all__ = ["IcePolicy", "MediaCounters", "MediaFailed", "PcName", "RoomMedia", "offered_kinds"]


class RoomMedia(peers.RoomMedia):
    """A live room's media; a bad offer or candidate raises ``MediaFailed``."""

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
