"""The event recorder: a never-blocking buffer in front of the Redis event stream.

Rooms call ``record(event)`` on the hot path. It encodes the event and appends it to an
in-memory queue; it never awaits, never raises and never waits for Redis. One background
task owns the writing: it takes up to ``batch_size`` events, XADDs them in one pipeline
and, if Redis is slow or gone, puts the batch back at the front and retries with capped
backoff. Redis being down therefore costs memory, not events.

Delivery is at-least-once: a batch whose reply was lost is written again, so the stream
may hold the same event twice. Consumers deduplicate by ``Event.id`` (the scorer does).

The queue is bounded by ``buffer_max`` (counting the batch in flight). What happens to
an event that does not fit is decided in one place, ``_overflow``; today it is counted
in ``dropped`` and logged, the last resort. Spilling to disk belongs there, with the
flush loop refilling the queue from the spill once it has room. The queue holds encoded
bytes, which is also what a spill file would hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.engagement.events import STREAM_FIELD, STREAM_KEY, Event, encode
from server.settings import EngagementSettings

logger = logging.getLogger(__name__)

BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0
# Seconds between two "buffer full" warnings while events keep being dropped.
DROP_LOG_INTERVAL = 5.0


class EventRecorder:
    """Buffers events in memory and writes them to the stream from one owned task."""

    def __init__(
        self,
        redis: Redis,
        settings: EngagementSettings,
        stream_key: str = STREAM_KEY,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._stream_key = stream_key
        self._buffer: deque[bytes] = deque()
        self._inflight: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._last_drop_log = -DROP_LOG_INTERVAL
        self._failing = False
        self.written = 0
        self.dropped = 0
        # Events whose data msgpack could not encode: a caller bug, logged and counted.
        self.invalid = 0
        # Pipelines that failed and were retried.
        self.failures = 0

    @property
    def depth(self) -> int:
        """Events recorded but not yet acknowledged by Redis (queued plus in flight)."""
        return len(self._buffer) + len(self._inflight)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def record(self, event: Event) -> None:
        """Queue ``event`` for the stream. Synchronous; never blocks, never raises.

        Call it from the event loop's thread.
        """
        try:
            payload = encode(event)
        except Exception:
            self.invalid += 1
            logger.error(
                "event %s (%s) for member %s cannot be encoded: not recorded",
                getattr(event, "id", "?"),
                getattr(event, "kind", "?"),
                getattr(event, "member_id", "?"),
                exc_info=True,
            )
            return
        if self.depth >= self._settings.buffer_max:
            self._overflow(payload)
            return
        self._buffer.append(payload)
        self._idle.clear()
        self._wakeup.set()

    def _overflow(self, payload: bytes) -> None:
        """The buffer is full: the one place that decides what becomes of ``payload``.

        The oldest events are kept (they are already in order for the stream), the new
        one is dropped and counted. A disk spill would take ``payload`` here instead, and
        ``_run`` would move spilled events back into the buffer before taking a batch.
        """
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            logger.warning(
                "event buffer full (%d waiting, buffer_max=%d): %d events dropped so far",
                self.depth,
                self._settings.buffer_max,
                self.dropped,
            )

    async def start(self) -> None:
        """Start the flush task (idempotent)."""
        if self.running:
            return
        self._task = asyncio.create_task(self._run(), name="salon-event-recorder")

    # A bounded wait is the point of stop() and flush(): hence the timeout parameters.
    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is left (for at most ``timeout`` seconds), then stop the task."""
        task = self._task
        if task is None:
            return
        try:
            if not task.done():
                await self.flush(timeout)
        except TimeoutError:
            pass
        finally:
            self._task = None
            await _cancel_and_wait(task)
        if self.depth:
            logger.warning("recorder stopped with %d events not written", self.depth)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event is in Redis; ``TimeoutError`` after ``timeout``."""
        if not self.running:
            raise RuntimeError("the recorder is not running: call start() first")
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            _check_cancelled()
            if not self._buffer:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.flush_interval):
                        await self._wakeup.wait()
                continue
            if await self._write_batch():
                backoff = BACKOFF_MIN
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _write_batch(self) -> bool:
        """XADD one batch; on failure put it back at the front. True if it was written."""
        size = min(self._settings.batch_size, len(self._buffer))
        self._inflight = [self._buffer.popleft() for _ in range(size)]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for payload in self._inflight:
                    pipe.xadd(
                        self._stream_key,
                        {STREAM_FIELD: payload},
                        maxlen=self._settings.stream_maxlen,
                        approximate=True,
                    )
                await pipe.execute()
        except BaseException as exc:
            # Cancelled or failed: the batch may or may not be in Redis. Keep it, in order.
            self._buffer.extendleft(reversed(self._inflight))
            self._inflight = []
            if not isinstance(exc, Exception):
                raise
            self._note_failure(exc)
            return False
        self.written += len(self._inflight)
        self._inflight = []
        if self._failing:
            self._failing = False
            logger.info("event stream writable again; %d events waiting", self.depth)
        if not self._buffer:
            self._idle.set()
        return True

    def _note_failure(self, exc: Exception) -> None:
        self.failures += 1
        if isinstance(exc, RedisError):
            if not self._failing:
                logger.warning(
                    "cannot write events to Redis (%s: %s); keeping %d in memory and retrying",
                    type(exc).__name__,
                    exc,
                    self.depth,
                )
        else:
            logger.exception("unexpected error writing events; keeping them and retrying")
        self._failing = True


def _check_cancelled() -> None:
    """Raise ``CancelledError`` if someone asked to cancel this task.

    On Python 3.11, ``asyncio.wait_for`` (which redis-py uses to send every command when
    ``socket_timeout`` is set) swallows a cancellation that lands in the same loop turn
    as its inner future finishing (python/cpython#86296, fixed in 3.12). The command
    then returns normally and the loop would run on; the request count still shows it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _cancel_and_wait(task: asyncio.Task[None], limit: float = 5.0) -> None:
    """Cancel ``task`` until it ends (see ``_check_cancelled``), for at most ``limit`` s.

    ``asyncio.wait`` is used rather than awaiting the task, so that the caller's own
    cancellation is never mistaken for the task's, nor absorbed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.done():
        logger.error("task %s did not stop within %.1f s", task.get_name(), limit)
    elif not task.cancelled() and task.exception() is not None:
        logger.error("task %s had failed", task.get_name(), exc_info=task.exception())
