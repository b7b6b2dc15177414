"""The rooms this node owns: their leases, taken when a room opens, renewed while it is
live, released when it closes or is handed over.

One task renews every lease this node holds each ``node.lease_renew`` seconds. A renewal
the store refuses (another node took the room: this one was paused or cut off), or no
successful renewal for ``node.lease_ttl`` seconds (Redis away: the lease may have run out),
means the room is lost: ``on_lost`` is called at once, and the node must stop serving it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from server.cluster.leases import Lease, LeaseHeld, LeaseStore
from server.engagement.tasks import cancel_and_wait
from server.ids import RoomId

logger = logging.getLogger(__name__)

# How often a join waiting for a dead owner's lease to run out tries again (seconds).
RETRY_TAKE_S = 0.1


class Ownership:
    """Leases of the rooms ``node_id`` serves; ``on_lost(room_id)`` when one is lost."""

    def __init__(
        self,
        leases: LeaseStore,
        node_id: str,
        ttl: float,
        renew_every: float,
        on_lost: Callable[[RoomId], None],
    ) -> None:
        self.store = leases
        self.node_id = node_id
        self.ttl = ttl
        self._every = renew_every
        self._on_lost = on_lost
        self._held: dict[RoomId, Lease] = {}
        self._renewed: dict[RoomId, float] = {}
        self._task: asyncio.Task[None] | None = None
        # True while this node must open no room: draining (set by the app) or stopping.
        self.refuse_new: Callable[[], bool] = lambda: False
        self.stopping = False

    def refusing(self) -> bool:
        """Whether this node must open no room now (draining or stopping)."""
        return self.stopping or self.refuse_new()

    def holds(self, room_id: RoomId) -> bool:
        return room_id in self._held

    async def take(self, room_id: RoomId, wait: float) -> Lease:
        """The room's lease for this node; while another node holds it, try again for up to
        ``wait`` seconds (a dead owner's lease runs out within its TTL), then ``LeaseHeld``."""
        deadline = time.monotonic() + wait
        while True:
            try:
                lease = await self.store.acquire(room_id, self.node_id)
            except LeaseHeld:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(RETRY_TAKE_S)
                continue
            self._held[room_id] = lease
            self._renewed[room_id] = time.monotonic()
            return lease

    async def release(self, room_id: RoomId) -> None:
        """Give the room up (it closed or moves); a failure only means the lease runs out."""
        lease = self._held.pop(room_id, None)
        self._renewed.pop(room_id, None)
        if lease is None:
            return
        try:
            await self.store.release(lease)
        except (RedisError, OSError) as exc:
            logger.warning("room %s: lease not released (%s); it runs out", room_id, exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"leases-{self.node_id}")

    async def stop(self) -> None:
        """Stop renewing (the leases left run out by themselves)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def renew_all(self) -> None:
        """Renew every lease held; report the ones lost."""
        held = list(self._held.values())
        results = await asyncio.gather(
            *(self.store.renew(lease) for lease in held), return_exceptions=True
        )
        now = time.monotonic()
        for lease, result in zip(held, results, strict=True):
            if self._held.get(lease.room_id) != lease:
                continue  # released or taken again meanwhile
            if result is True:
                self._renewed[lease.room_id] = now
                continue
            if isinstance(result, BaseException):
                if now - self._renewed.get(lease.room_id, now) < self.ttl:
                    logger.warning("room %s: lease renewal failed (%r)", lease.room_id, result)
                    continue
                logger.warning("room %s: lease not renewed in time: lost", lease.room_id)
            else:
                logger.warning("room %s: lease taken by another node: lost", lease.room_id)
            self._held.pop(lease.room_id, None)
            self._renewed.pop(lease.room_id, None)
            self._on_lost(lease.room_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.renew_all()
            except Exception:
                logger.exception("node %s: renewing leases failed", self.node_id)
