"""The node registry in Redis: each node's card (id, advertised URL, ICE address, load)
refreshed by a heartbeat and gone after its TTL, plus the operator's drain marks.

Keys share the ``{nodes}`` hash tag, so that one pipeline or transaction reads or writes
them on one Redis and on Redis Cluster alike:

- ``salon:{nodes}:node:ID`` — the card (a hash), expiring ``ttl`` after the last heartbeat;
- ``salon:{nodes}:index`` — sorted set of node ids by last heartbeat (ms);
- ``salon:{nodes}:draining`` — set of node ids an operator drained (kept across restarts,
  until ``undrain``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from server.redis_client import Atomic

PREFIX: Final = "salon:{nodes}:"
INDEX: Final = PREFIX + "index"
DRAINING: Final = PREFIX + "draining"
# A node absent from the index this long (ms) past its TTL is swept from it.
SWEEP_AFTER_MS: Final = 24 * 3600 * 1000

Client = Redis | RedisCluster


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def node_key(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Load:
    rooms: int = 0
    participants: int = 0
    subscribers: int = 0
    # Share of one core the node's process used since its last heartbeat (0.0-N).
    cpu: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    url: str
    ice_address: str
    load: Load
    started_ms: int
    seen_ms: int = 0
    draining: bool = False

    def fields(self) -> dict[str, str]:
        return {
            "url": self.url,
            "ice": self.ice_address,
            "rooms": str(self.load.rooms),
            "participants": str(self.load.participants),
            "subscribers": str(self.load.subscribers),
            "cpu": f"{self.load.cpu:.3f}",
            "started": str(self.started_ms),
        }

    @classmethod
    def parse(cls, node_id: str, raw: dict[bytes, bytes], seen: int, draining: bool) -> NodeInfo:
        data = {k.decode(): v.decode() for k, v in raw.items()}

        def number(name: str) -> int:
            value = data.get(name, "0")
            return int(value) if value.isdigit() else 0

        try:
            cpu = float(data.get("cpu", "0"))
        except ValueError:
            cpu = 0.0
        return cls(
            node_id=node_id,
            url=data.get("url", ""),
            ice_address=data.get("ice", ""),
            load=Load(number("rooms"), number("participants"), number("subscribers"), cpu),
            started_ms=number("started"),
            seen_ms=seen,
            draining=draining,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.node_id,
            "url": self.url,
            "ice_address": self.ice_address,
            "rooms": self.load.rooms,
            "participants": self.load.participants,
            "subscribers": self.load.subscribers,
            "cpu": round(self.load.cpu, 3),
            "started_ms": self.started_ms,
            "seen_ms": self.seen_ms,
            "draining": self.draining,
        }


class UnknownNode(LookupError):
    """No live node has this id (code ``unknown_node``)."""

    code = "unknown_node"

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


class NodeRegistry:
    """Reads and writes the registry; ``ttl`` (seconds) is how long a card outlives its
    last heartbeat."""

    def __init__(self, redis: Client, ttl: float) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl * 1000)

    async def heartbeat(self, node: NodeInfo) -> bool:
        """Write ``node``'s card and refresh its TTL; True when the operator drained it."""
        now = now_ms()
        # A plain pipeline, one round trip: nothing reads the card half-written in a way
        # that matters (it has its TTL a command later), and redis-py 8's cluster
        # transaction runs every queued command in a new thread with its own event loop,
        # the event loop blocked meanwhile (an idle node's largest cost, docs/decisions.md).
        async with self._redis.pipeline(transaction=False) as pipe:
            fields: dict[Any, Any] = dict(node.fields())
            pipe.hset(node_key(node.node_id), mapping=fields)
            pipe.pexpire(node_key(node.node_id), self._ttl_ms)
            pipe.zadd(INDEX, {node.node_id: now})
            pipe.zremrangebyscore(INDEX, "-inf", now - self._ttl_ms - SWEEP_AFTER_MS)
            pipe.sismember(DRAINING, node.node_id)
            *_, draining = await pipe.execute()
        return bool(draining)

    async def deregister(self, node_id: str) -> None:
        """An orderly stop: the card goes at once, not after the TTL."""
        tx = Atomic(self._redis, INDEX)
        tx.delete(node_key(node_id))
        tx.zrem(INDEX, node_id)
        await tx.execute()

    async def nodes(self) -> list[NodeInfo]:
        """Every live node (its card not expired), oldest heartbeat first."""
        seen: list[Any] = await self._redis.zrange(INDEX, 0, -1, withscores=True)
        if not seen:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for node_id, _ in seen:
                pipe.hgetall(node_key(text(node_id)))
            pipe.smembers(DRAINING)
            *cards, draining = await pipe.execute()
        drained = {text(d) for d in draining}
        live = []
        for (raw_id, score), card in zip(seen, cards, strict=True):
            if card:
                node_id = text(raw_id)
                live.append(NodeInfo.parse(node_id, card, int(score), node_id in drained))
        return live

    async def drain(self, node_id: str) -> NodeInfo:
        """Mark a live node draining (it takes no new room); ``UnknownNode`` otherwise."""
        node = next((n for n in await self.nodes() if n.node_id == node_id), None)
        if node is None:
            raise UnknownNode(node_id)
        await self._redis.sadd(DRAINING, node_id)
        return replace(node, draining=True)

    async def undrain(self, node_id: str) -> bool:
        """Lift a drain mark; True when there was one."""
        return bool(await self._redis.srem(DRAINING, node_id))
