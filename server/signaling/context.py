"""What a feature handler gets for one joined participant, and the shape of a feature.

Core messages (join, offer, candidate, stop, leave) are handled by the session itself;
stage and interaction messages go to feature handlers listed in the app factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from server.rooms.model import Participant
from server.rooms.room import Room
from server.rooms.service import RoomService


@dataclass(frozen=True, slots=True)
class SessionContext:
    room: Room
    me: Participant
    service: RoomService
    # Queue a server message to this participant's socket (never blocks).
    send: Callable[[dict[str, Any]], None]

    def current(self) -> Participant:
        """This connection's participant as the room has it now: the host may have
        changed its role (co-host, speaker) since it joined."""
        return self.room.get(self.me.participant_id) or self.me


class Feature(Protocol):
    """A group of client messages with their server-side rules."""

    # Message classes (from a ``messages_*`` module) this feature handles.
    message_types: tuple[type, ...]

    async def handle(self, ctx: SessionContext, message: Any) -> None:
        """Apply ``message``; raise ``RoomError`` or ``ProtocolError`` to refuse it."""
        ...

    async def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        """Fields added to the ``joined`` message (state a late joiner needs)."""
        ...
