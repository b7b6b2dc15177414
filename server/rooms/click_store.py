"""Each member's last product click in Redis: what purchase attribution falls back on.

One hash per member (``salon:{m:ID}:click``, in the member's hash-tag slot) holding the
room, the room session and the product of the last click, expiring after the
attribution window. ``remember_soon`` writes it off the hot path: the store owns those
write tasks and ``close`` waits for them briefly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from server.ids import MemberId
from server.redis_client import Atomic, RedisClient

logger = logging.getLogger(__name__)

# Writes allowed in flight; beyond that a click is still an event, but is not remembered
# for attribution (Redis is slow or gone, and the room must not wait for it).
MAX_PENDING_WRITES = 1000
WRITE_TIMEOUT = 5.0


def click_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:click"


@dataclass(frozen=True, slots=True)
class Click:
    room_id: str
    session_id: str
    product_id: str
    ts_ms: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ClickStore:
    def __init__(self, redis: RedisClient, window_seconds: int) -> None:
        self._redis = redis
        self.window_seconds = window_seconds
        self._writes: set[asyncio.Task[None]] = set()

    def remember_soon(self, member_id: MemberId, click: Click) -> None:
        """Start writing ``click`` and return at once; failures are logged, not raised."""
        if self.window_seconds <= 0:
            return
        if len(self._writes) >= MAX_PENDING_WRITES:
            logger.warning("click store backlog full: a click by %s is not remembered", member_id)
            return
        task = asyncio.ensure_future(self._write(member_id, click))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, member_id: MemberId, click: Click) -> None:
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self.remember(member_id, click)
        except Exception as exc:  # Redis slow or gone: attribution falls back to presence
            logger.warning("cannot remember a click by %s: %s", member_id, exc)

    async def close(self, timeout: float = 2.0) -> None:
        """Wait (at most ``timeout`` seconds) for writes in flight."""
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=timeout)

    async def remember(self, member_id: MemberId, click: Click) -> None:
        if self.window_seconds <= 0:
            return
        key = click_key(member_id)
        tx = Atomic(self._redis, key)
        tx.hset(
            key,
            mapping={
                "room": click.room_id,
                "session": click.session_id,
                "product": click.product_id,
                "ts": str(click.ts_ms),
            },
        )
        tx.expire(key, self.window_seconds)
        await tx.execute()

    async def last(self, member_id: MemberId) -> Click | None:
        raw = await self._redis.hgetall(click_key(member_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        try:
            return Click(data["room"], data["session"], data["product"], int(data["ts"]))
        except (KeyError, ValueError):
            return None
