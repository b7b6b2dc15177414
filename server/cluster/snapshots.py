"""Each node's figures for the whole cluster to read: a summary of its live rooms
(``/api/rooms``) and a snapshot of its metrics (``/metrics?scope=cluster``).

Both are written every ``node.heartbeat`` seconds under the registry's ``{nodes}`` hash
tag, with the card's TTL, so they go with the node (at once on an orderly stop):

- ``salon:{nodes}:rooms:ID`` — JSON list of the node's live rooms;
- ``salon:{nodes}:metrics:ID`` — JSON object of the node's ``/metrics`` figures.

A write that fails is logged (once per outage) and tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from server.cluster.registry import PREFIX, Client, NodeInfo

logger = logging.getLogger(__name__)

ROOMS: Final = PREFIX + "rooms:"
METRICS: Final = PREFIX + "metrics:"
STOP_TIMEOUT: Final = 2.0

Figures = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """What one live node last published (empty when it has not yet)."""

    node: NodeInfo
    rooms: list[dict[str, Any]]
    metrics: Figures


def _load(raw: bytes | str | None, kind: type) -> Any:
    if raw is None:
        return kind()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return kind()
    return value if isinstance(value, kind) else kind()


async def read_snapshots(redis: Client, nodes: list[NodeInfo]) -> list[NodeSnapshot]:
    """The snapshots of ``nodes`` (the registry's live nodes), in their order."""
    if not nodes:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for node in nodes:
            pipe.get(ROOMS + node.node_id)
            pipe.get(METRICS + node.node_id)
        raw: list[Any] = await pipe.execute()
    return [
        NodeSnapshot(node, _load(raw[2 * i], list), _load(raw[2 * i + 1], dict))
        for i, node in enumerate(nodes)
    ]


class SnapshotWriter:
    """Owns the task that publishes this node's rooms and metrics."""

    def __init__(
        self,
        redis: Client,
        node_id: str,
        interval: float,
        ttl: float,
        rooms: Callable[[], list[dict[str, Any]]],
        metrics: Callable[[], Figures],
    ) -> None:
        self._redis = redis
        self.node_id = node_id
        self._interval = interval
        self._ttl_ms = int(ttl * 1000)
        self._rooms = rooms
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        # A flag as well as the cancellation: redis-py may turn a cancelled write into a
        # connection error, which the loop would otherwise take for an outage.
        self._stopping = asyncio.Event()
        self._failing = False

    async def start(self) -> None:
        await self.write()
        self._task = asyncio.create_task(self._run(), name=f"snapshots-{self.node_id}")

    async def stop(self) -> None:
        """Stop writing and remove this node's snapshots (an orderly stop)."""
        if self._task is not None:
            task, self._task = self._task, None
            self._stopping.set()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT)
            task.cancel()
        try:
            await self._redis.delete(ROOMS + self.node_id, METRICS + self.node_id)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("node %s: snapshots not removed (%s)", self.node_id, exc)

    async def write(self) -> bool:
        """One write of both snapshots; False when Redis did not take it."""
        rooms, metrics = json.dumps(self._rooms()), json.dumps(self._metrics())
        try:
            # Two independent keys: a plain pipeline (see NodeRegistry.heartbeat).
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(ROOMS + self.node_id, rooms, px=self._ttl_ms)
                pipe.set(METRICS + self.node_id, metrics, px=self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._failing:
                logger.warning("node %s: snapshots not written (%s); retrying", self.node_id,
                               type(exc).__name__)  # fmt: skip
            self._failing = True
            return False
        self._failing = False
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if not self._stopping.is_set():
                await self.write()
