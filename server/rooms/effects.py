"""Effects that reach a live room from outside it, on whichever node holds the room: a
member's tier change (decided by the scorer of any node) and a purchase credited to a room
session (reported over REST to any node).

They travel on the Redis channel ``salon:effects`` (classic pub/sub reaches every node, on
one Redis and on Redis Cluster). The node that produced an effect applies it to its own
live rooms at once (``server/rooms/notices.py``) and publishes it; every other node's
:class:`EffectsListener` applies it to its own. Pub/sub delivers only to nodes connected at
that moment: an effect missed during an outage is not replayed (the purchase itself is
recorded and credited whatever happens; the host console misses one line).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.channel_listener import ChannelListener
from server.rooms.notices import purchase_made, push_tier_change
from server.rooms.service import RoomService

logger = logging.getLogger(__name__)

CHANNEL: Final = "salon:effects"
TIER: Final = "tier"
PURCHASE: Final = "purchase"
STOP_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class Effect:
    """``kind`` from node ``origin``; ``data``: a tier change's ``member_id`` and
    ``change``, or a purchase's ``room_id``, ``session``, ``member_id``, ``product_id``
    and ``details``."""

    kind: str
    origin: str
    data: dict[str, Any]

    def encode(self) -> str:
        return json.dumps({"kind": self.kind, "origin": self.origin, "data": self.data})

    @classmethod
    def decode(cls, raw: bytes | str) -> Effect | None:
        """The effect in ``raw``, or None if it is not a well-formed one."""
        try:
            message: Any = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(message, dict):
            return None
        kind, origin, data = message.get("kind"), message.get("origin"), message.get("data")
        if not (isinstance(origin, str) and isinstance(data, dict)):
            return None
        if not is_valid_id(data.get("member_id")):
            return None
        if kind == TIER and isinstance(data.get("change"), dict):
            return cls(kind, origin, data)
        if (
            kind == PURCHASE
            and is_valid_id(data.get("room_id"))
            and is_valid_id(data.get("product_id"))
            and isinstance(data.get("session"), str)
            and isinstance(data.get("details"), dict)
        ):
            return cls(kind, origin, data)
        return None


class Effects:
    """Publishes this node's effects; the publishing tasks of tier changes (which must
    not wait) are owned here and awaited briefly at ``close``."""

    def __init__(self, redis: RedisClient, node: str) -> None:
        self._redis = redis
        self.node = node
        self._tasks: set[asyncio.Task[None]] = set()

    def tier_changed(self, member_id: MemberId, change: dict[str, Any]) -> None:
        """Tell the other nodes (in the background: the scorer does not wait)."""
        effect = Effect(TIER, self.node, {"member_id": member_id, "change": change})
        task = asyncio.ensure_future(self._publish(effect))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def purchase(
        self,
        room_id: RoomId,
        session: str,
        member_id: MemberId,
        product_id: str,
        details: dict[str, Any],
    ) -> None:
        """Tell the node that holds ``room_id``'s ``session`` (whichever it is)."""
        data = {
            "room_id": room_id,
            "session": session,
            "member_id": member_id,
            "product_id": product_id,
            "details": details,
        }
        await self._publish(Effect(PURCHASE, self.node, data))

    async def _publish(self, effect: Effect) -> None:
        try:
            await self._redis.publish(CHANNEL, effect.encode())
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning(
                "effects: a %s of %s not sent to other nodes (%s)",
                effect.kind,
                effect.data["member_id"],
                type(exc).__name__,
            )

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_TIMEOUT)
        for task in list(self._tasks):
            task.cancel()


class EffectsListener(ChannelListener):
    """Applies other nodes' effects to this node's live rooms."""

    def __init__(self, redis: RedisClient, service: RoomService, node: str) -> None:
        super().__init__(redis, CHANNEL, "effects")
        self._service = service
        self._node = node

    async def on_message(self, data: bytes) -> None:
        effect = Effect.decode(data)
        if effect is None:
            logger.warning("effects: ignored a malformed message on %s", CHANNEL)
            return
        if effect.origin == self._node:
            return  # applied here already
        try:
            await self.apply(effect)
        except Exception as exc:  # one effect that cannot be applied; the next may
            logger.error("effects: a %s from %s not applied: %r", effect.kind, effect.origin, exc)

    async def apply(self, effect: Effect) -> None:
        data = effect.data
        member = MemberId(data["member_id"])
        if effect.kind == TIER:
            push_tier_change(self._service, member, data["change"])
            return
        room = self._service.live_rooms.get(RoomId(data["room_id"]))
        if room is None or room.session_id != data["session"]:
            return  # another node's room, or a session that ended
        await purchase_made(room, member, data["product_id"], data["details"])
        logger.info(
            "room %s: a purchase by %s reported to node %s", room.room_id, member, effect.origin
        )
