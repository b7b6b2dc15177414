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

A URL whose scheme is ``redis+cluster://`` (or ``rediss+cluster://``) names one or more
seed nodes of a Redis Cluster (``redis+cluster://h1:7000,h2:7001``) and builds redis-py's
``RedisCluster`` with the same timeouts and retry; the client discovers the other nodes.
Everything else in Salon takes a :data:`RedisClient`, which is either kind.

Writes that must land together go through :class:`Atomic` (one Lua script call), not
``pipeline(transaction=True)``: on a cluster, redis-py 8's transaction pipeline runs every
queued command in a thread of its own with its own event loop, and waits for it, blocking
the server's loop once per command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final, Literal, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, DataAccessCommands
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.typing import EncodableT, KeyT

# Seconds between two checks (a PING) of a connection that has been idle that long.
HEALTH_CHECK_INTERVAL: Final = 10
# Connections a client keeps at most; more callers wait for one (up to ``timeout``).
MAX_CONNECTIONS: Final = 100
# redis-py's cluster client has no blocking pool: past this many connections to one node
# a command fails at once (``MaxConnectionsError``) instead of waiting. A burst of joins
# must wait, not be refused, so the cap per node is far above the one-Redis pool's.
CLUSTER_MAX_CONNECTIONS: Final = 1000
CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# The client every Salon module takes: one Redis, or a Redis Cluster.
RedisClient: TypeAlias = Redis | RedisCluster


class RedisUrlError(ValueError):
    """A Redis URL Salon cannot use (the sentence names what is wrong)."""


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]], str]:
    """Split ``redis+cluster://[user:pass@]h1:p1,h2:p2`` into the plain scheme, the
    seed nodes, and the credentials part (``user:pass@`` or empty)."""
    scheme, _, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    if plain is None:
        raise RedisUrlError(f"{scheme}:// is not a Redis Cluster URL")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    creds, _, hosts = netloc.rpartition("@")
    seeds: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"{item!r} in the Redis Cluster URL is not HOST:PORT")
        seeds.append((host.strip("[]"), int(port)))
    return plain, seeds, f"{creds}@" if creds else ""


def connect(url: str, timeout: float, *, read_timeout: float | None = None) -> RedisClient:
    """A client for ``url`` whose connect (and, unless ``read_timeout`` is given, read)
    timeout is ``timeout``; ``read_timeout=0`` means reads may block (stream readers).
    A ``redis+cluster://`` URL gives a ``RedisCluster``, any other a ``Redis``."""
    if not is_cluster_url(url):
        return _connect_single(url, timeout, read_timeout=read_timeout)
    plain, seeds, creds = cluster_seeds(url)
    host, port = seeds[0]
    return RedisCluster.from_url(
        f"{plain}://{creds}{host}:{port}",
        startup_nodes=[ClusterNode(h, p) for h, p in seeds],
        max_connections=CLUSTER_MAX_CONNECTIONS,
        socket_timeout=timeout if read_timeout is None else (read_timeout or None),
        socket_connect_timeout=timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


async def disconnect(client: RedisClient) -> None:
    """Drop every connection of ``client`` (either kind), in use or not, without closing
    the client: a read blocked inside redis-py ends, the next command reconnects."""
    if isinstance(client, RedisCluster):
        for node in client.get_nodes():
            with contextlib.suppress(RedisError, OSError):
                await node.disconnect()
    else:
        await client.connection_pool.disconnect()


def _connect_single(url: str, timeout: float, *, read_timeout: float | None) -> Redis:
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


def decodes_responses(client: RedisClient) -> bool:
    """Whether ``client`` (either kind) decodes replies to ``str``."""
    if isinstance(client, RedisCluster):
        return bool(client.get_connection_kwargs().get("decode_responses"))
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


async def queue_script(
    pipe: Pipeline | ClusterPipeline,
    script: AsyncScript,
    keys: Sequence[KeyT],
    args: Sequence[EncodableT],
) -> None:
    """Queue one call of ``script`` on either kind of pipeline, as a raw EVALSHA.

    redis-py's cluster pipeline refuses ``evalsha`` by name (and would not load the
    script), and its plain pipeline asks ``SCRIPT EXISTS`` before every ``execute`` that
    holds a script: one more round trip per batch, a sixth of the scorer's Redis time.
    So the EVALSHA is queued as a raw command (routed by its keys on a cluster) after
    :meth:`ClusterScripts.ready` loaded the script; a ``NOSCRIPT`` reply (a restarted
    or promoted Redis) is the caller's cue to :meth:`ClusterScripts.forget`."""
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


# What :class:`ClusterScripts` notes once it loaded its scripts on one Redis.
SINGLE = "single"


class ClusterScripts:
    """Loads scripts before a pipeline runs them as raw EVALSHA (:func:`queue_script`):
    on one Redis once, on a Redis Cluster on every primary.

    redis-py's cluster pipeline loads none, and a replica promoted by a failover has none
    of them (scripts are not replicated), so its EVALSHA would fail ``NOSCRIPT`` on every
    try. ``ready`` loads them
    on each primary it has not loaded them on yet; ``forget`` after a ``NOSCRIPT`` reply
    (a restarted node keeps its name and loses its scripts).
    """

    def __init__(self, client: RedisClient, *scripts: AsyncScript) -> None:
        self._client = client
        self._scripts = scripts
        self._loaded: set[str] = set()

    async def ready(self) -> None:
        client = self._client
        if not isinstance(client, RedisCluster):
            if SINGLE not in self._loaded:
                for script in self._scripts:
                    await client.script_load(script.script)
                self._loaded.add(SINGLE)
            return
        for node in client.get_primaries():
            if node.name in self._loaded:
                continue
            for script in self._scripts:  # the sha is the script's: it stays as it is
                await client.execute_command("SCRIPT LOAD", script.script, target_nodes=node)
            self._loaded.add(node.name)

    def forget(self) -> None:
        self._loaded.clear()


async def ready(client: RedisClient) -> None:
    """Make sure a cluster client knows the slot map: it learns it on its first command,
    but a subscription opened before any command fails (redis-py's ``KeyError`` on the
    channel's slot). Nothing to do on one Redis; a no-op once done."""
    if isinstance(client, RedisCluster):
        await client.initialize()


# Runs the commands packed in ARGV (each: its length, then its words) in order, at once.
_ATOMIC = """
local out, i = {}, 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  out[#out + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return out
"""


class _Commands(DataAccessCommands):
    """redis-py's command builders (``hset(mapping=...)``, ``zadd``, ...), recording
    each command's words instead of sending it (typed as redis-py's sync client, whose
    builders return what ``execute_command`` returns)."""

    _is_async_client: Literal[False] = False
    _event_dispatcher: Any = None

    def __init__(self) -> None:
        self.queued: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.queued.append(args)
        return self


class Atomic(_Commands):
    """Writes that land together, on either kind of client: queue them with redis-py's
    usual methods (``tx.hset(...)``, ``tx.expire(...)``), then ``await tx.execute()``
    (their replies, in order). One Lua script call, routed by ``key``; every key the
    commands touch must share its slot (Redis refuses the script otherwise), as in a
    cluster transaction. Like MULTI/EXEC, nothing else runs in between and a command
    that fails does not undo the ones before it."""

    def __init__(self, client: RedisClient, key: KeyT) -> None:
        super().__init__()
        self._client = client
        self._key = key

    async def execute(self) -> list[Any]:
        if not self.queued:
            return []
        packed: list[EncodableT] = []
        for words in self.queued:
            packed.append(len(words))
            packed.extend(words)
        script = self._client.register_script(_ATOMIC)
        replies: list[Any] = await script(keys=[self._key], args=packed)
        return replies
