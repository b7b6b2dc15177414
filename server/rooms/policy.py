"""The entry policy: a pure decision from a room, a member and the room's occupancy.

Hosts always enter. A member enters when the room admits their tier or has invited them,
and there is a free place. Every check runs before anything changes.
"""

from __future__ import annotations

from server.engagement.members import Member
from server.rooms.errors import RoomFull, TierTooLow
from server.rooms.model import Role, RoomSpec


def check_entry(room: RoomSpec, member: Member | None, role: Role, occupants: int) -> None:
    """Raise the refusal for this entry, or return when it is allowed.

    ``member`` may be None only for hosts (callers refuse unknown members first).
    ``occupants`` counts members already in the room; hosts do not take a place.
    """
    if role is Role.HOST:
        return
    assert member is not None
    invited = member.member_id in room.invites
    if not invited and member.tier not in room.tiers:
        raise TierTooLow(
            room.title, [t.value for t in room.tiers], member.tier.value, room.refusal_link
        )
    if occupants >= room.capacity:
        raise RoomFull(room.title, room.capacity, room.refusal_link)
