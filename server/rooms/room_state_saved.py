"""One saved value of a room session in Redis, changed by optimistic compare-and-swap.

A ``SavedValue`` keeps one domain object (a question board, a poll box, a shop) as bytes
in a hash with a version. A change reads it, applies the pure rule in Python, and writes
it back with ONE Lua script (``SWAP``) that writes only if the version is still the one
read; otherwise it reads again and retries. A rule that refuses raises before anything is
written. Two nodes changing the same value at once both succeed, one after the other, as
if the rule ran under a lock; within one node an ``asyncio.Lock`` saves the retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from server.redis_client import RedisClient
from server.rooms.errors import StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Tries before a change gives up (``unavailable``): only reached if other nodes keep
# winning the race for this one value, far beyond any room's rate limits.
MAX_TRIES: Final = 100


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def from_redis(call: Awaitable[Any]) -> Any:
    """``call``'s reply; ``StoreUnavailable`` (logged, no traceback) if Redis fails it, so
    that the member is told ``unavailable`` and the room goes on."""
    try:
        return await call
    except (RedisError, OSError) as exc:
        logger.warning("room state unavailable (%s): %s", type(exc).__name__, exc)
        raise StoreUnavailable() from None


class SavedValue(Generic[T]):
    def __init__(
        self,
        redis: RedisClient,
        swap: AsyncScript,
        key: str,
        load: Callable[[bytes | None], T],
        dump: Callable[[T], bytes],
    ) -> None:
        self._redis = redis
        self._swap = swap
        self.key = key
        self._load = load
        self._dump = dump
        self._lock = asyncio.Lock()

    async def _read(self) -> tuple[str, T]:
        version, data = await from_redis(self._redis.hmget(self.key, ["v", "d"]))
        raw = None if data is None else bytes(data, "utf-8") if isinstance(data, str) else data
        return ("0" if version is None else text(version)), self._load(raw)

    async def read(self) -> T:
        """The value as saved now (a snapshot: changing it changes nothing)."""
        return (await self._read())[1]

    async def change(self, rule: Callable[[T], R]) -> R:
        """Apply ``rule`` to the saved value and save the result; ``rule``'s answer."""
        async with self._lock:
            for _ in range(MAX_TRIES):
                version, value = await self._read()
                answer = rule(value)
                written = await from_redis(
                    self._swap(keys=[self.key], args=[version, self._dump(value)])
                )
                if written:
                    return answer
        raise StoreUnavailable()
