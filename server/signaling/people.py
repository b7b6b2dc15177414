"""The people list feature: the first page at join, more pages on request, search.

Everyone gets the first page of the room's people in ``joined`` (hosts, co-hosts,
speakers, then the newest members) with the room's ``count``, and may ask for the next
page with the cursor it came with; joins and leaves then arrive as ``presence`` deltas
(``server/rooms/room.py``). Hosts and co-hosts may also search everyone by name or member
id, to find the one they want to invite, mute or remove. The order and the paging live in
``server/rooms/presence.py``.
"""

from __future__ import annotations

from typing import Any, assert_never

from server import outbound as out
from server.rooms.errors import Forbidden
from server.rooms.moderation import is_moderator
from server.rooms.room import Room
from server.signaling import messages as m
from server.signaling import messages_people as mp
from server.signaling.context import SessionContext

# Most people a search answers with: enough to pick from, small enough to send at once.
SEARCH_LIMIT = 50


def first_page(room: Room) -> dict[str, Any]:
    """``joined``'s view of the people: the first page, the count, the cursor for more."""
    page = room.roster.first_page(room.presence.page)
    return {
        "participants": [room.roster.listed(p) for p in page.people],
        "count": len(room.roster),
        "people_next": page.next,
    }


class PeopleFeature:
    """Implements ``server.signaling.context.Feature``."""

    message_types: tuple[type, ...] = mp.MESSAGE_TYPES

    async def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        return {}  # the first page is part of the core ``joined`` (see ``first_page``)

    async def handle(self, ctx: SessionContext, message: mp.PeopleMessage) -> None:
        room = ctx.room
        match message:
            case mp.PeoplePage():
                page = room.roster.members(message.before, room.presence.page)
                people = [room.roster.listed(p) for p in page.people]
                reply = m.people_page(people, page.next, len(room.roster))
            case mp.PeopleSearch():
                me = ctx.current()
                if not is_moderator(me):
                    raise Forbidden("search_people", me.role.value)
                found = room.roster.search(message.query, SEARCH_LIMIT)
                reply = out.people_found(message.query, [room.roster.listed(p) for p in found])
            case _:
                assert_never(message)
        if message.ref is not None:
            reply["ref"] = message.ref
        ctx.send(reply)
