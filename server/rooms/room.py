"""A live room: who is in it, their listeners, and its media.

State changes happen in plain synchronous methods, after every check, so that no other
coroutine can observe a half-made change. Listeners are told afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from enum import Enum
from typing import Any, Protocol

from server.ids import MemberId, ParticipantId
from server.rooms.errors import RoomError
from server.rooms.media_peers import RoomMedia
from server.rooms.model import Participant, Role, RoomSpec
from server.rooms.stage import Stage

logger = logging.getLogger(__name__)


class RoomListener(Protocol):
    """How a room talks to one participant's connection (implemented by signaling)."""

    def participant_joined(self, participant: Participant) -> None: ...

    def participant_left(self, participant: Participant) -> None: ...

    def stream_changed(self, live: bool, publisher: ParticipantId | None) -> None: ...

    def replaced(self) -> None: ...

    def ended(self, error: RoomError) -> None:
        """The room sends this participant away (removed, banned); ``error`` says why."""
        ...

    def room_event(self, kind: str, payload: dict[str, Any]) -> None:
        """A named room event with plain, JSON-able data (chat line, hand raised, …)."""
        ...


class RoomState(Enum):
    OPEN = "open"
    CLOSED = "closed"


class Room:
    def __init__(self, spec: RoomSpec, media: RoomMedia) -> None:
        self.spec = spec
        self.media = media
        self.state = RoomState.OPEN
        self._participants: dict[ParticipantId, Participant] = {}
        self._listeners: dict[ParticipantId, RoomListener] = {}
        self._by_member: dict[MemberId, ParticipantId] = {}
        self.stage = Stage()

    @property
    def room_id(self) -> str:
        return self.spec.room_id

    @property
    def participants(self) -> list[Participant]:
        return list(self._participants.values())

    def get(self, participant_id: ParticipantId) -> Participant | None:
        return self._participants.get(participant_id)

    def member_count(self) -> int:
        """Places taken: everyone but hosts (speakers and co-hosts are members too)."""
        return sum(1 for p in self._participants.values() if p.role is not Role.HOST)

    def current_of(self, member_id: MemberId) -> Participant | None:
        pid = self._by_member.get(member_id)
        return self._participants.get(pid) if pid else None

    def add(self, participant: Participant, listener: RoomListener) -> None:
        """Add an admitted participant; every check has run before this."""
        self._participants[participant.participant_id] = participant
        self._listeners[participant.participant_id] = listener
        self._by_member[participant.member_id] = participant.participant_id
        for pid, other in list(self._listeners.items()):
            if pid != participant.participant_id:
                other.participant_joined(participant)

    def remove(self, participant_id: ParticipantId) -> Participant | None:
        participant = self._participants.pop(participant_id, None)
        self._listeners.pop(participant_id, None)
        if participant is None:
            return None
        if self._by_member.get(participant.member_id) == participant_id:
            del self._by_member[participant.member_id]
        for other in list(self._listeners.values()):
            other.participant_left(participant)
        return participant

    def set_role(self, participant_id: ParticipantId, role: Role) -> Participant | None:
        """Give a participant another role (stage changes) and tell everyone at once."""
        current = self._participants.get(participant_id)
        if current is None:
            return None
        changed = dataclasses.replace(current, role=role)
        self._participants[participant_id] = changed
        self.broadcast("role", {"participant": changed.to_json()})
        return changed

    def listener(self, participant_id: ParticipantId) -> RoomListener | None:
        return self._listeners.get(participant_id)

    def stream_changed(self, live: bool, publisher: ParticipantId | None) -> None:
        for listener in list(self._listeners.values()):
            listener.stream_changed(live, publisher)

    def broadcast(
        self, kind: str, payload: dict[str, Any], only: Iterable[ParticipantId] | None = None
    ) -> None:
        """Tell everyone (or only the given participants) about a room event."""
        targets = (
            self._listeners
            if only is None
            else {pid: self._listeners[pid] for pid in only if pid in self._listeners}
        )
        # One private copy per broadcast: every listener gets the same object, which the
        # signaling layer encodes once for all of them (see signaling/frames.py).
        event = dict(payload)
        for listener in list(targets.values()):
            listener.room_event(kind, event)

    @property
    def empty(self) -> bool:
        return not self._participants
