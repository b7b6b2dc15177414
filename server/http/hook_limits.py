"""Rate limits of the public hook routes (``/r/CODE`` and ``/api/hooks/CODE…``): one
token bucket per client address and one per hook code, in this process.

A request takes a token from both buckets or from neither: a refused request costs
nothing and counts nothing (a visit past the limit is not recorded). The answer is 429
``rate_limited`` with ``Retry-After`` (whole seconds). The client address is the peer's
(``request.remote``): behind a proxy every visitor shares the proxy's bucket, so put
the limit in the proxy there or raise ``consult.hook_ip_*``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from server.http.common import Handler, error_response
from server.rooms.ratelimit import Bucket, Limit
from server.settings import ConsultSettings

# Buckets kept before idle (full) ones are dropped.
MAX_BUCKETS: Final = 10_000


class HookLimits:
    def __init__(
        self, settings: ConsultSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ip = Limit("hook_ip", settings.hook_ip_rate, settings.hook_ip_burst)
        self._code = Limit("hook_code", settings.hook_code_rate, settings.hook_code_burst)
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def _bucket(self, key: tuple[str, str], limit: Limit, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[key] = Bucket(float(limit.burst), now)
        # Refill to now without taking anything.
        bucket.tokens = min(
            float(limit.burst), bucket.tokens + max(0.0, now - bucket.updated) * limit.rate
        )
        bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            limit = self._ip if key[0] == "ip" else self._code
            if bucket.tokens + (now - bucket.updated) * limit.rate >= limit.burst:
                del self._buckets[key]

    def take(self, address: str, code: str) -> float:
        """0 when the request may go on (a token taken from both buckets), else the
        seconds until it may (nothing taken)."""
        now = self._clock()
        pairs = [
            (self._bucket(("ip", address), self._ip, now), self._ip),
            (self._bucket(("code", code), self._code, now), self._code),
        ]
        short = [(1.0 - b.tokens) / limit.rate for b, limit in pairs if b.tokens < 1.0]
        if short:
            return max(short)
        for bucket, _ in pairs:
            bucket.tokens -= 1.0
        return 0.0

    def guard(self, handler: Handler) -> Handler:
        """``handler`` (a route with a ``{code}``) behind both limits."""

        async def limited(request: web.Request) -> web.StreamResponse:
            wait = self.take(request.remote or "?", request.match_info.get("code", ""))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                response = error_response(
                    429,
                    "rate_limited",
                    f"Too many requests for this link: try again in {seconds} s.",
                    retry_after=seconds,
                )
                response.headers["Retry-After"] = str(seconds)
                return response
            return await handler(request)

        return limited
