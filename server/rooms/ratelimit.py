"""Rate limits: one token bucket per kind of message, per member and room session.

Pure and synchronous; the caller passes a monotonic clock reading. A refused message
costs nothing (no token taken), and the error says which limit and when to retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.rooms.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` messages per second on average, ``burst`` at once."""

    name: str
    rate: float
    burst: int


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float

    def take(self, limit: Limit, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is available."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(limit.burst), self.tokens + elapsed * limit.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / limit.rate


class Limiter:
    """The buckets of one member in one room session."""

    __slots__ = ("_buckets", "last")

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}
        # When a token was last asked for (monotonic seconds).
        self.last = float("-inf")

    def check(self, limit: Limit, now: float) -> None:
        """Take one token from ``limit``'s bucket or raise ``RateLimited``."""
        self.last = now
        bucket = self._buckets.get(limit.name)
        if bucket is None:
            bucket = self._buckets[limit.name] = Bucket(float(limit.burst), now)
        wait = bucket.take(limit, now)
        if wait > 0:
            raise RateLimited(limit.name, limit.rate, limit.burst, wait)
