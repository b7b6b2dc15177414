"""The common ground of the rewards services: the stores, the bounded Redis calls, the
events, and each live room's rewards state (``RewardsCore``).

Every Redis call goes through ``_io``: bounded by the read timeout and by a number of
calls in flight; a Redis that cannot answer becomes ``RewardError('unavailable')``.
``server.rooms.reward_points_service`` and ``server.rooms.reward_service`` build on it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError

from server.engagement.events import Event, EventKind, new_event, now_ms
from server.engagement.reward_points import PointRules
from server.ids import MemberId
from server.redis_client import RedisClient
from server.rooms.coupon_store import CouponStore
from server.rooms.model import Participant
from server.rooms.points_store import PointsStore
from server.rooms.reward_errors import RewardError
from server.rooms.reward_live import RoomRewards
from server.rooms.room import Room
from server.rooms.room_rewards_store import RoomRewardsStore

logger = logging.getLogger(__name__)
T = TypeVar("T")
REDIS_CONCURRENCY = 32


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


class RewardsCore:
    def __init__(
        self,
        redis: RedisClient,
        rules: PointRules,
        currency: str,
        timeout: float,
        record: Callable[[Event], None],
    ) -> None:
        self.coupons = CouponStore(redis)
        self.points = PointsStore(redis)
        self.records = RoomRewardsStore(redis)
        self.rules = rules
        self.currency = currency
        self._timeout = timeout
        self._record = record
        # redis-py's pool refuses (it does not wait) past its size: a rush of 500 claims
        # in one second queues here instead of failing.
        self._gate = asyncio.Semaphore(REDIS_CONCURRENCY)
        self._rooms: weakref.WeakKeyDictionary[Room, RoomRewards] = weakref.WeakKeyDictionary()

    async def _io(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._gate:
                    return await call
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("rewards: Redis unavailable (%s)", type(exc).__name__)
            raise RewardError("unavailable") from None

    def event(self, kind: EventKind, room: str, member: str, **data: Any) -> None:
        self._record(new_event(kind, room, MemberId(member), **data))

    def _by(self, kind: EventKind, room: Room, actor: Participant, **data: Any) -> None:
        """An event about ``actor`` in ``room``, carrying their role."""
        self.event(kind, room.room_id, actor.member_id, role=actor.role.value, **data)

    def live(self, room: Room, session: str = "") -> RoomRewards:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = RoomRewards()
        state.start_session(session)
        return state

    async def _award(
        self, member: str, change: str, points: int, reason: str, room: Room, session: str
    ) -> None:
        applied, _ = await self._io(self.points.award(member, change, points, reason, now_ms()))
        if applied:
            await self._count(room, session, points_issued=points)
            self.event(
                EventKind.POINTS,
                room.room_id,
                member,
                session=session,
                change=change,
                points=points,
            )

    async def _count(self, room: Room, session: str, **amounts: int) -> None:
        if session:
            await self._io(self.records.count(f"{room.room_id}:{session}", **amounts))
