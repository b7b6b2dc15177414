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

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.engagement.events import EventKind
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient, disconnect, ready
from server.rooms.bans import BanStore
from server.rooms.errors import Removed, StoreUnavailable
from server.rooms.service import RoomService

logger = logging.getLogger(__name__)

CHANNEL = "salon:moderation"
# Who the member is told removed them: an operator has no name in the room.
OPERATOR = "The organiser"
RETRY_DELAY = 1.0
# How long a read waits for a message before looking again (and noticing a cancellation).
POLL = 1.0
STOP_TIMEOUT = 5.0


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


class RemovalListener:
    """Subscribes to ``salon:moderation`` and expels the members it names from this node.

    Owned by the app's ``cleanup_ctx``: ``start()`` starts one task, ``stop()`` cancels it.
    A lost connection is logged and retried every ``RETRY_DELAY`` seconds."""

    def __init__(self, redis: RedisClient, service: RoomService, bans: BanStore) -> None:
        self._redis = redis
        self._service = service
        self._bans = bans
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="removal-listener")

    async def stop(self) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        # A flag as well as the cancellation: redis-py may turn a cancelled read into a
        # connection error, which the loop would otherwise take for an outage.
        self._stop.set()
        task.cancel()
        # A read blocked inside redis-py can outlive its cancellation (as the scorer's
        # does, server/app.py): dropping the connections ends it, so stopping is bounded.
        await asyncio.sleep(0)
        await disconnect(self._redis)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, STOP_TIMEOUT)

    async def _run(self) -> None:
        quiet = False  # one warning per outage, not one per retry
        while not self._stop.is_set():
            pubsub = None
            try:
                await ready(self._redis)
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)
                await self._reconcile()
                self.subscribed.set()
                if quiet:
                    logger.info("removals: listening on %s again", CHANNEL)
                quiet = False
                await self._listen(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                if self._stop.is_set():
                    return
                logger.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "removals: cannot listen on %s (%s: %s); retrying every %.0f s",
                    CHANNEL,
                    type(exc).__name__,
                    exc,
                    RETRY_DELAY,
                )
                quiet = True
            finally:
                self.subscribed.clear()
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError, TimeoutError):
                        await asyncio.wait_for(
                            pubsub.aclose(),  # type: ignore[no-untyped-call]
                            STOP_TIMEOUT,
                        )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_DELAY)

    async def _listen(self, pubsub: PubSub) -> None:
        while not self._stop.is_set():
            message = await pubsub.get_message(timeout=POLL)
            if message is None or message.get("type") != "message":
                continue
            removal = Removal.decode(message["data"])
            if removal is None:
                logger.warning("removals: ignored a malformed message on %s", CHANNEL)
                continue
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
