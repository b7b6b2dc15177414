"""What reaches a live room from outside its sockets: a purchase credited to its session
(the shop's REST call), a member's tier change (the scorer). Applied here to this node's
rooms; ``server/rooms/effects.py`` carries them to the node that holds the room.

Each tells the room's moderators at once and keeps the entry in the session's journal, so
that a reloaded host console shows it again.
"""

from __future__ import annotations

from typing import Any

from server import outbound as out
from server.ids import MemberId
from server.rooms.room import Room
from server.rooms.service import RoomService


async def purchase_made(
    room: Room, member_id: MemberId, product_id: str, details: dict[str, Any]
) -> str:
    """Tell ``room``'s moderators about a purchase credited to its session; its id."""
    participant = room.current_of(member_id)
    name = participant.name if participant else member_id
    message = out.purchase(member_id, name, product_id, details)
    session = room.session_id
    stats = await room.session.purchased(product_id, message.payload)
    room.broadcast(*message, only=room.moderators())
    room.updates.product_stats(product_id, stats)
    return session


def push_tier_change(service: RoomService, member_id: MemberId, change: dict[str, Any]) -> None:
    """Tell the hosts of the rooms the member is in on this node about a tier change
    (``TierChange.to_json()``), and keep it in each room session's journal (for hosts
    who reload). Other nodes hear it through ``server/rooms/effects.py``."""
    for room in service.live_rooms.values():
        participant = room.current_of(member_id)
        if participant is None:
            continue
        message = out.tier(participant.participant_id, member_id, participant.name, change)
        room.broadcast(*message, only=room.moderators())
        service.spawn(room, room.session.tier_changed(message.payload), "keeping a tier change")
