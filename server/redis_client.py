"""How the server builds its Redis clients: one place for timeouts and reconnection.

A pooled connection that Redis closed (Redis restarted, failed over, or dropped idle
clients) is only found out when a command is sent on it. redis-py 8 built from a URL
retries nothing by default, so that first command failed and the gate refused the next
join ``unavailable`` although Redis was back. Here every client retries a command once,
at once, on a fresh connection after a ``ConnectionError``; timeouts are not retried (a
slow Redis must still refuse within ``redis.timeout``), and a Redis that is really down
fails the retry too, so the gate still fails closed.

The pool blocks: a burst of joins larger than the pool (300 members at once, say) waits
up to ``timeout`` for a free connection instead of being refused at once, which is what
redis-py's default pool does past its size.
"""

from __future__ import annotations

from typing import Final

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Seconds between two checks (a PING) of a connection that has been idle that long.
HEALTH_CHECK_INTERVAL: Final = 10
# Connections a client keeps at most; more callers wait for one (up to ``timeout``).
MAX_CONNECTIONS: Final = 100


def connect(url: str, timeout: float, *, read_timeout: float | None = None) -> Redis:
    """A client for ``url`` whose connect (and, unless ``read_timeout`` is given, read)
    timeout is ``timeout``; ``read_timeout=0`` means reads may block (stream readers)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout if read_timeout is None else (read_timeout or None),
        socket_connect_timeout=timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes both
