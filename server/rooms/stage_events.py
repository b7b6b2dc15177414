"""The engagement events of stage actions: which kind each action counts as, recorded by
``RoomService`` (the wire edge, ``server/signaling/stage.py``, says what happened)."""

from __future__ import annotations

from typing import Any

from server.engagement.events import EventKind
from server.ids import MemberId
from server.rooms.model import Participant
from server.rooms.room import Room
from server.rooms.service import RoomService


def _record(
    service: RoomService, room: Room, kind: EventKind, who: Participant, **data: Any
) -> None:
    service.record(kind, room, who.member_id, role=who.role.value, **data)


def replied(service: RoomService, room: Room, who: Participant, accept: bool) -> None:
    """``who`` accepted or declined a stage invitation."""
    _record(service, room, EventKind.STAGE_ACCEPT if accept else EventKind.STAGE_DECLINE, who)


def invited(
    service: RoomService, room: Room, target: Participant, by: MemberId, hand_raised: bool
) -> None:
    _record(service, room, EventKind.STAGE_INVITE, target, by=by, hand_raised=hand_raised)


def muted(
    service: RoomService,
    room: Room,
    target: Participant,
    by: MemberId,
    muted: bool,
    self_mute: bool,
) -> None:
    _record(service, room, EventKind.MUTE, target, by=by, muted=muted, self_mute=self_mute)


def hand_raised(service: RoomService, room: Room, who: Participant) -> None:
    _record(service, room, EventKind.HAND_RAISE, who)


def removed(service: RoomService, room: Room, target: Participant, by: MemberId, ban: bool) -> None:
    _record(service, room, EventKind.BAN if ban else EventKind.REMOVE, target, by=by)


def stage_time(service: RoomService, room: Room, who: Participant, seconds: float) -> None:
    """A seat ended after ``seconds`` on stage (strong engagement), however it ended."""
    _record(service, room, EventKind.STAGE_SECONDS, who, seconds=round(seconds, 3))
