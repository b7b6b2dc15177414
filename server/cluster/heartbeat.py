"""This node's heartbeat: registers it in the node registry at start, refreshes its card
(with its load and CPU share) every ``node.heartbeat`` seconds, and removes it on an
orderly stop. A failed heartbeat is logged and tried again at the next tick: the card
then expires by itself after ``node.ttl`` if Redis stays away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from redis.exceptions import RedisError

from server.cluster.registry import Load, NodeInfo, NodeRegistry, now_ms
from server.settings import Settings

logger = logging.getLogger(__name__)


def node_id(settings: Settings) -> str:
    """``node.id``, or HOSTNAME-PORT."""
    return settings.node.id or f"{socket.gethostname()}-{settings.server.port}"


def advertised_url(settings: Settings) -> str:
    s = settings.server
    return settings.node.advertised_url or s.public_url or f"http://{s.host}:{s.port}"


class CpuMeter:
    """Share of one core this process used between two readings."""

    def __init__(self) -> None:
        self._wall, self._cpu = time.monotonic(), time.process_time()

    def read(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        share = (cpu - self._cpu) / max(wall - self._wall, 1e-6)
        self._wall, self._cpu = wall, cpu
        return max(share, 0.0)


class Heartbeat:
    """Owns the heartbeat task; ``load`` is asked for the node's figures at each beat."""

    def __init__(self, registry: NodeRegistry, settings: Settings, load: Callable[[], Load]):
        self._registry = registry
        self._interval = settings.node.heartbeat
        self._load = load
        self._cpu = CpuMeter()
        self.node_id = node_id(settings)
        ice = settings.media.ice_addresses
        self._card = NodeInfo(self.node_id, advertised_url(settings), ice[0] if ice else "",
                              Load(), now_ms())  # fmt: skip
        self.draining = False
        # Called when the operator drains this node (seen at a heartbeat).
        self.on_drained: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def started_ms(self) -> int:
        """When this node started, as its card says (a restarted node has a new one)."""
        return self._card.started_ms

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self.node_id}")

    async def stop(self) -> None:
        """Stop beating and leave the registry (an orderly stop)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._registry.deregister(self.node_id)
        except (RedisError, OSError) as exc:
            logger.warning("node %s: cannot leave the registry (%s)", self.node_id, exc)

    async def beat(self) -> bool:
        """One heartbeat; False when Redis did not take it."""
        figures = self._load()
        load = Load(figures.rooms, figures.participants, figures.subscribers, self._cpu.read())
        card = replace(self._card, load=load)
        try:
            draining = await self._registry.heartbeat(card)
        except (RedisError, OSError) as exc:
            logger.warning("node %s: heartbeat failed (%s); retrying", self.node_id, exc)
            return False
        if draining != self.draining:
            logger.info("node %s: %s", self.node_id, "draining" if draining else "drain lifted")
        was, self.draining = self.draining, draining
        if draining and not was:
            for hook in list(self.on_drained):
                hook()
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.beat()
