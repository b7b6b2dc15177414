"""Removals ordered from outside a room (REST, CLI) reach every node through Redis.

An operator bans or removes a member with ``salon bans add`` (a process of its own) or
the REST API (on whichever node the load balancer picked); the member may be connected
to any node. So the order is not an in-process call: it is published on the Redis
channel ``salon:moderation``, and every node's :class:`RemovalListener` expels the
member from its live room if they are there, within the pub/sub delivery time.

Pub/sub delivers only to nodes connected at that moment; the ban itself is durable (the
gate reads it on every join), and a listener that (re)subscribes checks the ban lists of
its live rooms, so a ban published while a node was cut off from Redis still takes
effect once it is back. A plain removal (no ban) missed that way is lost: the member
could rejoin at once anyway.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from server.engagement.events import EventKind
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.bans import BanStore
from server.rooms.channel_listener import ChannelListener
from server.rooms.errors import Removed, StoreUnavailable
from server.rooms.service import RoomService

logger = logging.getLogger(__name__)

CHANNEL = "salon:moderation"
# Who the member is told removed them: an operator has no name in the room.
OPERATOR = "The organiser"


@dataclass(frozen=True, slots=True)
class Removal:
    room_id: RoomId
    member_id: MemberId
    banned: bool

    def encode(self) -> str:
        return json.dumps(
            {"room_id": self.room_id, "member_id": self.member_id, "banned": self.banned}
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Removal | None:
        """The removal in ``raw``, or None if it is not one (logged by the caller)."""
        try:
            data: Any = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        room_id, member_id, banned = data.get("room_id"), data.get("member_id"), data.get("banned")
        if not (is_valid_id(room_id) and is_valid_id(member_id) and isinstance(banned, bool)):
            return None
        return cls(RoomId(str(room_id)), MemberId(str(member_id)), banned)


async def publish_removal(redis: RedisClient, removal: Removal) -> int:
    """Order every node to expel the member; the number of nodes that received it."""
    receivers: int = await redis.publish(CHANNEL, removal.encode())
    return receivers


class RemovalListener(ChannelListener):
    """Subscribes to ``salon:moderation`` and expels the members it names from this node
    (the subscription's task, retries and stop: ``server/rooms/channel_listener.py``)."""

    def __init__(self, redis: RedisClient, service: RoomService, bans: BanStore) -> None:
        super().__init__(redis, CHANNEL, "removals")
        self._service = service
        self._bans = bans

    async def on_subscribed(self) -> None:
        await self._reconcile()

    async def on_message(self, data: bytes) -> None:
        removal = Removal.decode(data)
        if removal is None:
            logger.warning("removals: ignored a malformed message on %s", CHANNEL)
            return
        await self._remember(removal)
        self.apply(removal)

    async def _remember(self, removal: Removal) -> None:
        """A removal without a ban holds for the rest of the room session (issue 13), so
        the node where the member is keeps them out of it before sending them out. If
        Redis cannot take that now, they are still sent out: the operator asked."""
        room = self._service.live_rooms.get(removal.room_id)
        if removal.banned or room is None or room.current_of(removal.member_id) is None:
            return
        try:
            await self._service.remember_removal(room, removal.member_id)
        except StoreUnavailable:
            logger.warning(
                "room %s: Redis could not keep %s out for the session",
                removal.room_id,
                removal.member_id,
            )

    async def _reconcile(self) -> None:
        """Expel present members banned while this node was not listening."""
        for room_id, room in list(self._service.live_rooms.items()):
            for member_id in await self._bans.list(room_id):
                if room.current_of(member_id) is not None:
                    self.apply(Removal(room_id, member_id, banned=True))

    def apply(self, removal: Removal) -> bool:
        """Expel the member from this node's live room; False if they are not here."""
        room = self._service.live_rooms.get(removal.room_id)
        participant = room.current_of(removal.member_id) if room else None
        if room is None or participant is None:
            return False
        kind = EventKind.BAN if removal.banned else EventKind.REMOVE
        self._service.record(kind, room, removal.member_id, by="operator")
        self._service.expel(room, participant, Removed(OPERATOR, removal.banned))
        logger.info(
            "room %s: an operator removed %s%s",
            removal.room_id,
            removal.member_id,
            " and banned them" if removal.banned else "",
        )
        return True
