"""The entry policy: a pure decision from a room, a member and the room's occupancy.

Hosts always enter, except a private (consultation) room: there only its invited member
ids enter, whatever their role or token. A member enters when the room admits their tier
or has invited them, and there is a free place. Every check runs before anything changes.
"""

from __future__ import annotations

from server.engagement.members import Member
from server.ids import MemberId
from server.rooms.errors import PrivateRoom, RoomFull, TierTooLow
from server.rooms.model import Role, RoomKind, RoomSpec


def check_entry(
    room: RoomSpec, member: Member | None, role: Role, occupants: int, member_id: MemberId
) -> None:
    """Raise the refusal for this entry, or return when it is allowed.

    ``member`` may be None only for hosts (callers refuse unknown members first).
    ``occupants`` counts members already in the room; hosts do not take a place.
    ``member_id`` is the token's subject (a host may have no member record).
    """
    if room.kind is RoomKind.CONSULT and member_id not in room.invites:
        raise PrivateRoom(room.title)
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
