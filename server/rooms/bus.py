"""The room bus: how a room's broadcasts reach the connections subscribed to it.

``RoomBus`` is the seam for several nodes (issue 11): a room publishes an event once, and
every subscribed connection gets it, whichever node holds the socket. ``LocalRoomBus``
delivers within this process; a cross-node bus (Redis pub/sub or streams, keyed per room)
implements the same Protocol. Payloads are plain, JSON-able dicts; the subscriber (a
signaling connection) translates them to wire messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from server.ids import ParticipantId


class Subscriber(Protocol):
    """One connection's end of the bus (implemented by signaling)."""

    def room_event(self, kind: str, payload: dict[str, Any]) -> None:
        """A named room event with plain, JSON-able data (chat line, hand raised, …)."""
        ...


class RoomBus(Protocol):
    def subscribe(self, room_id: str, participant_id: ParticipantId, sub: Subscriber) -> None:
        """Deliver ``room_id``'s events to ``sub`` from now on (replacing an earlier one)."""
        ...

    def unsubscribe(self, room_id: str, participant_id: ParticipantId) -> None: ...

    def publish(
        self,
        room_id: str,
        kind: str,
        payload: dict[str, Any],
        only: Iterable[ParticipantId] | None = None,
    ) -> None:
        """Tell every subscriber of ``room_id`` (or only the given participants); never
        blocks (a subscriber queues what it gets)."""
        ...

    def subscribers(self, room_id: str) -> int: ...


Payload = dict[str, Any]
Targets = Iterable[ParticipantId] | None


class LocalRoomBus:
    """Implements ``RoomBus`` within one process."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[ParticipantId, Subscriber]] = {}

    def subscribe(self, room_id: str, participant_id: ParticipantId, sub: Subscriber) -> None:
        self._rooms.setdefault(room_id, {})[participant_id] = sub

    def unsubscribe(self, room_id: str, participant_id: ParticipantId) -> None:
        subs = self._rooms.get(room_id)
        if subs is None:
            return
        subs.pop(participant_id, None)
        if not subs:
            del self._rooms[room_id]

    def publish(self, room_id: str, kind: str, payload: Payload, only: Targets = None) -> None:
        subs = self._rooms.get(room_id)
        if not subs:
            return
        targets = list(subs.values()) if only is None else [subs[p] for p in only if p in subs]
        # One private copy per broadcast: every subscriber gets the same object, which the
        # signaling layer encodes once for all of them (see signaling/frames.py).
        event = dict(payload)
        for sub in targets:
            sub.room_event(kind, event)

    def subscribers(self, room_id: str) -> int:
        return len(self._rooms.get(room_id, ()))
