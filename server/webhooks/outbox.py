"""The webhook outbox: what rooms and edges call to announce something to the brand's
systems. ``publish`` is synchronous and never blocks nor raises (the ``EventRecorder``
shape): it appends to a bounded in-memory queue, and one background task moves batches
into the endpoints' Redis queues (``store.enqueue``), retrying with backoff while Redis
is slow or gone. Delivery over HTTP is the dispatcher's job (``dispatcher.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from redis.exceptions import RedisError

from server.engagement.events import now_ms
from server.engagement.tasks import Backoff, cancel_and_wait, check_cancelled
from server.webhooks.store import WebhookStore

logger = logging.getLogger(__name__)

BUFFER_MAX: Final = 10_000
BATCH: Final = 200


class WebhookOutbox:
    """Buffers announcements and queues them for every endpoint that wants their kind."""

    def __init__(self, store: WebhookStore, on_queued: Callable[[], None] | None = None) -> None:
        self._store = store
        self._on_queued = on_queued
        self._buffer: deque[tuple[str, str, bytes, int]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Set whenever the buffer is empty (``stop`` waits for it).
        self._drained = asyncio.Event()
        self._drained.set()
        self.queued = 0
        self.dropped = 0

    @property
    def depth(self) -> int:
        return len(self._buffer)

    def publish(self, kind: str, data: dict[str, Any]) -> str:
        """Announce ``kind`` with ``data``; returns the delivery id. Never blocks."""
        delivery_id = "evt_" + uuid.uuid4().hex
        ts = now_ms()
        try:
            body = json.dumps(
                {"id": delivery_id, "kind": kind, "created_ms": ts, "data": data},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
        except (TypeError, ValueError):
            logger.exception("webhook %s: data cannot be encoded; dropped", kind)
            self.dropped += 1
            return delivery_id
        if len(self._buffer) >= BUFFER_MAX:
            self.dropped += 1
            logger.warning("webhook outbox full: %s %s dropped", kind, delivery_id)
            return delivery_id
        self._buffer.append((delivery_id, kind, body, ts))
        self._drained.clear()
        self._wakeup.set()
        return delivery_id

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            # One last flush if Redis answers quickly; what remains is logged as lost.
            self._wakeup.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 2.0)
            await cancel_and_wait(self._task)
            self._task = None
        if self._buffer:
            logger.warning("webhook outbox stopped with %d unqueued", len(self._buffer))

    async def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)
        while True:
            check_cancelled()
            if not self._buffer:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._buffer[i] for i in range(min(BATCH, len(self._buffer)))]
            try:
                self.queued += await self._store.enqueue(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("webhook outbox: Redis unavailable, retrying: %s", exc)
                await backoff.sleep()
                continue
            backoff.reset()
            for _ in batch:
                self._buffer.popleft()
            if not self._buffer:
                self._drained.set()
            if self._on_queued is not None:
                self._on_queued()
