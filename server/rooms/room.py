"""A live room: who is in it, their listeners, its media, and its session.

A room is opened by ``RoomService`` at its first join, with a fresh session (its
``SessionState``, ``server/rooms/room_state.py``), and closed when it empties or the server
stops: closing ends the session. Broadcasts go out through the ``RoomBus``.

State changes happen in plain synchronous methods, after every check, so that no other
coroutine can observe a half-made change. Listeners are told afterwards: joins and leaves
in one ``presence`` delta per interval (``server/rooms/presence.py``), everything else
at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from server import outbound as out
from server.ids import MemberId, ParticipantId
from server.rooms.activity import Limiters
from server.rooms.bus import RoomBus, Subscriber
from server.rooms.errors import RoomError
from server.rooms.media import RoomMedia
from server.rooms.model import Participant, Role, RoomSpec
from server.rooms.moderation import moderators
from server.rooms.presence import Pacing, PresenceBatch, PresenceRules, Roster
from server.rooms.room_state import SessionState
from server.rooms.room_updates import RoomUpdates
from server.rooms.stage import Stage

logger = logging.getLogger(__name__)


class RoomListener(Subscriber, Protocol):
    """How a room talks to one participant's connection (implemented by signaling); its
    ``room_event`` is reached through the room's bus."""

    def stream_changed(self, live: bool, publisher: ParticipantId | None) -> None: ...

    def replaced(self) -> None: ...

    def ended(self, error: RoomError) -> None:
        """The room sends this participant away (removed, banned); ``error`` says why."""
        ...


class Room:
    def __init__(
        self,
        spec: RoomSpec,
        media: RoomMedia,
        session: SessionState,
        bus: RoomBus,
        presence: PresenceRules | None = None,
        flush_interval: float = 0.25,
    ) -> None:
        self.spec = spec
        self.media = media
        self.session = session
        self.bus = bus
        # Set when the room leaves this node (lease lost or handed over): its participants'
        # departures then write nothing to the session, which is the new owner's.
        self.handed_over = False
        # Node-local: the rate limiters of this session's members, its coalesced updates.
        self.limiters = Limiters()
        self.updates = RoomUpdates(flush_interval, self._publish_update)
        self._participants: dict[ParticipantId, Participant] = {}
        self._listeners: dict[ParticipantId, RoomListener] = {}
        self._by_member: dict[MemberId, ParticipantId] = {}
        self.stage = Stage()
        self.presence = presence or PresenceRules()
        self.roster = Roster()
        self._batch = PresenceBatch()
        self._pacing = Pacing(self.presence.interval, self.presence.budget)
        self._presence_timer: asyncio.TimerHandle | None = None

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
        # Hosts are among the featured (a handful): no pass over the room on every join.
        hosts = sum(1 for p in self.roster.featured() if p.role is Role.HOST)
        return len(self._participants) - hosts

    def current_of(self, member_id: MemberId) -> Participant | None:
        pid = self._by_member.get(member_id)
        return self._participants.get(pid) if pid else None

    def add(self, participant: Participant, listener: RoomListener) -> None:
        """Add an admitted participant; every check has run before this."""
        self._participants[participant.participant_id] = participant
        self._listeners[participant.participant_id] = listener
        self._by_member[participant.member_id] = participant.participant_id
        self.bus.subscribe(self.room_id, participant.participant_id, listener)
        self.roster.add(participant)
        self._batch.joined(participant.participant_id)
        self._presence_changed()

    def remove(self, participant_id: ParticipantId) -> Participant | None:
        participant = self._participants.pop(participant_id, None)
        if self._listeners.pop(participant_id, None) is not None:
            self.bus.unsubscribe(self.room_id, participant_id)
        if participant is None:
            return None
        if self._by_member.get(participant.member_id) == participant_id:
            del self._by_member[participant.member_id]
        self.roster.remove(participant_id)
        self._batch.left(participant_id)
        self._presence_changed()
        return participant

    def set_role(self, participant_id: ParticipantId, role: Role) -> Participant | None:
        """Give a participant another role (stage changes) and tell everyone at once."""
        current = self._participants.get(participant_id)
        if current is None:
            return None
        changed = dataclasses.replace(current, role=role)
        self._participants[participant_id] = changed
        self.roster.update(changed)
        self.broadcast(*out.role(changed.to_json()))
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
        self.bus.publish(self.room_id, kind, payload, only)

    def moderators(self) -> list[ParticipantId]:
        """Who moderates the room now (hosts and co-hosts)."""
        return moderators(self.roster.featured())

    def _publish_update(self, message: out.Outbound, moderators: bool) -> None:
        self.broadcast(*message, self.moderators() if moderators else None)

    @property
    def empty(self) -> bool:
        return not self._participants

    @property
    def session_id(self) -> str:
        return self.session.session_id

    async def close(self, end_session: bool = True) -> None:
        """Close the room: pending updates are dropped, the bus forgets its listeners,
        and the session ends (a later open of this room starts a new one), unless the room
        moves to another node (``end_session=False``: its session lives on in Redis)."""
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None
        self._batch.take()
        self.updates.cancel()
        for participant_id in list(self._listeners):
            self.bus.unsubscribe(self.room_id, participant_id)
        self._listeners.clear()
        if end_session:
            await self.session.close()

    # --- presence ---------------------------------------------------------------------

    def _presence_changed(self) -> None:
        if self._presence_timer is None and self._batch.pending:
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(
                self._pacing.delay(loop.time()), self._tell_presence
            )

    def _tell_presence(self) -> None:
        self._presence_timer = None
        joined, left = self._batch.take()
        try:
            self.broadcast(*out.presence(self._delta(joined, left)))
        except Exception:
            logger.exception("room %s: the presence delta failed", self.room_id)
        self._pacing.sent(asyncio.get_running_loop().time(), len(self._listeners))

    def _delta(self, joined: list[ParticipantId], left: list[ParticipantId]) -> dict[str, Any]:
        """The count and the changes; of those who joined, the featured and the newest
        members up to a page (the rest are counted, and listed on request)."""
        people = [p for p in map(self._participants.get, joined) if p is not None]
        featured = [p for p in people if p.role is not Role.MEMBER]
        members = [p for p in people if p.role is Role.MEMBER][-self.presence.page :]
        members.reverse()
        return {
            "count": len(self._participants),
            "joined": [self.roster.listed(p) for p in featured + members],
            "left": left,
        }
