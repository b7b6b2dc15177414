"""The event recorder: a never-blocking buffer in front of the Redis event stream.

Rooms call ``record(event)`` on the hot path. It encodes the event and appends it to an
in-memory queue; it never awaits, never raises and never waits for Redis. One background
task owns the writing: it takes up to ``batch_size`` events and appends them to the
stream with one script call (one XADD per event, run inside Redis: one round trip and no
per-command packing in Python), and, if Redis is slow or gone, puts the batch back at
the front and retries with capped backoff.

Delivery is at-least-once: a batch whose reply was lost is written again, so the stream
may hold the same event twice. Consumers deduplicate by ``Event.id`` (the scorer does).

Memory is bounded by ``buffer_max`` (counting the batch in flight). What happens to an
event that does not fit is decided in one place, ``_overflow``: it goes to the disk
spill (``spill.py``) through a writer task that does the file I/O in a thread, so the
event loop never waits on the disk. From the first spilled event on, new events follow
it to the spill (the order is kept) until the flush loop has read the spill back into
memory and written it; only then do events go straight to memory again. Only if the
spill writer itself falls ``spill_pending_max`` events behind (the disk is failing too)
is an event dropped, counted in ``dropped`` and logged. On ``stop`` whatever Redis could
not take in time is saved to the spill, and the next start writes it.

A process killed (SIGKILL, power loss) loses neither: every event recorded also goes to
the journal (``journal.py``, in the spill's directory, driven by ``journal_writer.py``):
written before ``record`` returns (a SIGKILL cannot lose it), fsynced within
``journal_interval`` seconds (a power loss), and dropped once Redis has it. ``durable``
waits until every event recorded so far is fsynced in the journal or in Redis: the REST
edges await it before they acknowledge. The next start puts a dead process's journal at
the front of the spill; events that had reached Redis come back then, and the scorer
skips them (it deduplicates by ``Event.id``). Meanwhile a live recorder sharing the
spill root adopts a dead process's directory at run time (``adoption.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from typing import Final

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from server.engagement.adoption import ADOPT_EVERY_S, Adopter
from server.engagement.events import STREAM_FIELD, STREAM_KEY, Event, encode
from server.engagement.journal_writer import JournalWriter, open_journal
from server.engagement.spill import Spill
from server.engagement.tasks import Backoff, cancel_and_wait, check_cancelled
from server.redis_client import RedisClient
from server.settings import EngagementSettings

logger = logging.getLogger(__name__)

# Seconds between two "buffer full" warnings while events keep being dropped.
DROP_LOG_INTERVAL = 5.0
# Refill from the spill once memory is at most this full (a fraction of buffer_max).
REFILL_BELOW: Final = 0.5

# KEYS[1] the stream. ARGV[1] MAXLEN (approximate), ARGV[2] the field, ARGV[3..] events.
XADD_SCRIPT: Final = """
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', ARGV[2], ARGV[i])
end
return #ARGV - 2
"""


# Milliseconds a batch waits for its replicas (``redis.wait_replicas``) at most.
REPLICA_WAIT_MS: Final = 1000


class EventRecorder:
    """Buffers events in memory (then on disk) and writes them to the stream."""

    def __init__(
        self,
        redis: RedisClient,
        settings: EngagementSettings,
        stream_key: str = STREAM_KEY,
        wait_replicas: int = 0,
        adopt_every: float = ADOPT_EVERY_S,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._stream_key = stream_key
        self._xadd = redis.register_script(XADD_SCRIPT)
        self._wait_replicas = wait_replicas
        self._unreplicated = False
        self._buffer: deque[bytes] = deque()
        self._inflight: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._last_drop_log = -DROP_LOG_INTERVAL
        self._failing = False
        # The spill: events waiting for the writer thread, the files read back whose
        # events are in memory (deleted once ``written`` passes their mark), and whether
        # new events must follow older ones there.
        self._spill = (
            Spill(settings.spill_dir, settings.spill_file_bytes) if settings.spill_dir else None
        )
        self._pending: list[bytes] = []
        self._spill_wakeup = asyncio.Event()
        self._spill_task: asyncio.Task[None] | None = None
        self._spill_busy = False
        self._spill_writing = 0
        self._spilling = False
        self._marks: deque[tuple[int, list[Path]]] = deque()
        self._appended = 0
        # Dead nodes' directories under the same spill root (``adoption.py``; 0: off).
        self._adopt_every = adopt_every
        self._adopt_task: asyncio.Task[None] | None = None
        self.adopter: Adopter | None = None
        # The journal; ``_earlier`` counts events of an earlier run waiting in the spill
        # at start, which may be written before ours (see ``_done``).
        self._journal = self._journal_writer()
        self._earlier = 0
        self.written = 0
        self.dropped = 0
        # Events whose data msgpack could not encode: a caller bug, logged and counted.
        self.invalid = 0
        # Batches that failed and were retried.
        self.failures = 0
        # Events sent to the spill, and read back from it, since start.
        self.spilled = 0
        self.refilled = 0

    @property
    def depth(self) -> int:
        """Events in memory not yet acknowledged by Redis (queued plus in flight)."""
        return len(self._buffer) + len(self._inflight)

    @property
    def spill_depth(self) -> int:
        """Events in the spill: waiting for the writer thread or on disk, not yet read back."""
        on_disk = self._spill.depth if self._spill is not None else 0
        return len(self._pending) + self._spill_writing + on_disk

    def _journal_writer(self) -> JournalWriter:
        return JournalWriter(
            self._settings.journal_interval,
            self._settings.spill_pending_max,
            self._done,
            enabled=self._spill is not None,
        )

    @property
    def journalled(self) -> int:
        """Events recorded by this process that reached the journal."""
        return self._journal.journalled

    @property
    def journal_lag(self) -> int:
        """Events recorded but not yet in the journal."""
        return self._journal.lag

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
        self._journal.add(payload)
        if self._spilling or self.depth >= self._settings.buffer_max:
            self._overflow(payload)
            return
        self._append(payload)
        self._wakeup.set()

    def _append(self, payload: bytes) -> None:
        self._buffer.append(payload)
        self._appended += 1
        self._idle.clear()

    def _overflow(self, payload: bytes) -> None:
        """Memory is full (or older events are on disk): the one place that decides what
        becomes of ``payload``. It goes to the spill; only if there is no spill, or its
        writer is ``spill_pending_max`` behind, is it dropped and counted."""
        if self._spill is not None and len(self._pending) < self._settings.spill_pending_max:
            if not self._spilling:
                logger.warning(
                    "event buffer full (%d in memory): spilling to %s",
                    self.depth,
                    self._settings.spill_dir,
                )
            self._spilling = True
            self._pending.append(payload)
            self.spilled += 1
            self._idle.clear()
            self._spill_wakeup.set()
            return
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            logger.warning(
                "event buffer full (%d waiting, buffer_max=%d, spill %d behind): "
                "%d events dropped so far",
                self.depth,
                self._settings.buffer_max,
                len(self._pending),
                self.dropped,
            )

    async def start(self) -> None:
        """Start the flush task (idempotent); events left on disk by an earlier run are
        written too."""
        if self.running:
            return
        earlier = waiting = 0
        if self._journal.stopped:
            # Started again: a journal of its own, whose first record is the next event
            # recorded; everything already here counts as earlier.
            self._journal = self._journal_writer()
            earlier = self.written + self.depth + len(self._pending)
        if self._spill is not None:
            try:
                waiting = await asyncio.to_thread(self._spill.open)
            except OSError as exc:
                logger.error("cannot open the event spill in %s: %s", self._settings.spill_dir, exc)
                self._spill = None
                waiting = 0
            else:
                journal = await open_journal(self._spill, self._settings.spill_file_bytes)
                if journal is not None:
                    self._journal.attach(journal)
                waiting = self._spill.depth
            if waiting:
                logger.info("%d events from an earlier run are waiting in the spill", waiting)
                self._spilling = True
                self._idle.clear()
            self._spill_task = asyncio.create_task(self._spill_run(), name="salon-event-spill")
            if self._spill is not None and self._adopt_every > 0:
                spill = self._spill
                self.adopter = Adopter(
                    self._redis,
                    self._stream_key,
                    spill.root,
                    lambda: spill.directory,
                    self._write_adopted,
                    self._adopt_every,
                )
                self._adopt_task = asyncio.create_task(
                    self.adopter.run(), name="salon-event-adopter"
                )
        self._earlier = earlier + waiting
        self._task = asyncio.create_task(self._run(), name="salon-event-recorder")
        self._journal.start()

    def _done(self) -> int:
        """How many of the events recorded by this process Redis has, counted in record
        order. Ours reach Redis in that order, an earlier run's spilled events before or
        among them: subtracting all of those never counts one of ours too many."""
        return max(0, self.written - self._earlier)

    async def durable(self, timeout: float) -> None:
        """Wait until every event recorded so far is in the journal (fsynced) or in
        Redis; ``TimeoutError`` after ``timeout`` seconds. Concurrent callers share one
        fsync."""
        await self._journal.durable(timeout)

    # A bounded wait is the point of stop() and flush(): hence the timeout parameters.
    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is left (for at most ``timeout`` seconds), then stop the tasks; what
        Redis did not take is saved to the spill for the next start."""
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
            await cancel_and_wait(task)
            spill_task, self._spill_task = self._spill_task, None
            if spill_task is not None:
                await cancel_and_wait(spill_task)
            adopt_task, self._adopt_task = self._adopt_task, None
            if adopt_task is not None:
                await cancel_and_wait(adopt_task)
            await self._journal.stop()
            await self._save_leftovers()

    async def _save_leftovers(self) -> None:
        if self._spill is None:
            if self.depth:
                logger.warning("recorder stopped with %d events not written", self.depth)
            return
        memory = [*self._inflight, *self._buffer]
        pending, self._pending = self._pending, []
        journal = self._journal.journal
        try:
            # Memory holds the oldest events: a file of their own, read first next time.
            await asyncio.to_thread(self._spill.append, memory, True)
            await asyncio.to_thread(self._spill.append, pending)
        except OSError as exc:
            # Whatever the journal holds is replayed by the next start.
            logger.error(
                "recorder stopped: %d events not saved in the spill: %s",
                len(memory) + len(pending),
                exc,
            )
            if journal is not None:
                await asyncio.to_thread(journal.close, False)
        else:
            if journal is not None:
                # Every event is in Redis or in the spill now.
                await asyncio.to_thread(journal.close, True)
            if memory or pending:
                logger.warning(
                    "recorder stopped: %d events saved in %s for the next start",
                    len(memory) + len(pending),
                    self._spill.directory,
                )
            self._buffer.clear()
            self._inflight = []
        await asyncio.to_thread(self._spill.close)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event (spill included) is in Redis; ``TimeoutError``
        after ``timeout``."""
        if not self.running:
            raise RuntimeError("the recorder is not running: call start() first")
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            check_cancelled()
            if self._spilling:
                await self._refill()
            if not self._buffer:
                if not self._spilling:
                    self._idle.set()
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    # While spilling, look at the spill again soon even without news;
                    # otherwise ``record`` wakes this up: polling every few ms cost an idle
                    # node about 0.03 of a core (issue 11, branch capacity).
                    wait = 0.05 if self._spilling else None
                    async with asyncio.timeout(wait):
                        await self._wakeup.wait()
                continue
            if await self._write_batch():
                backoff.reset()
                self._journal.progress()
                await self._forget_spilled()
            else:
                await backoff.sleep()

    async def _refill(self) -> None:
        """Move spilled events back into memory when there is room; leave spill mode
        once the spill is empty."""
        assert self._spill is not None
        room = self._settings.buffer_max - self.depth
        if room < self._settings.buffer_max * (1 - REFILL_BELOW):
            return
        if self._spill.depth > 0:
            payloads, finished = await asyncio.to_thread(self._spill.read, room)
            for payload in payloads:
                self._append(payload)
            self.refilled += len(payloads)
            if finished:
                self._marks.append((self._appended, finished))
        elif not self._pending and not self._spill_busy:
            self._spilling = False
            logger.info("event spill drained: events go straight to memory again")
        if self._pending and not self._spill_busy and self._spill.depth == 0:
            # Nothing older is on disk: the writer's backlog may come straight back.
            chunk = self._pending[:room]
            del self._pending[: len(chunk)]
            for payload in chunk:
                self._append(payload)
            self.refilled += len(chunk)

    async def _forget_spilled(self) -> None:
        """Delete spill files all of whose events are now in Redis."""
        done: list[Path] = []
        while self._marks and self._marks[0][0] <= self.written:
            done.extend(self._marks.popleft()[1])
        if done and self._spill is not None:
            await asyncio.to_thread(self._spill.remove, done)

    async def _spill_run(self) -> None:
        """The spill's writer: moves pending events to disk, in a thread."""
        assert self._spill is not None
        backoff = Backoff()
        while True:
            await self._spill_wakeup.wait()
            self._spill_wakeup.clear()
            while self._pending:
                chunk, self._pending = self._pending, []
                self._spill_busy, self._spill_writing = True, len(chunk)
                try:
                    await asyncio.to_thread(self._spill.append, chunk)
                except OSError as exc:
                    self._pending[:0] = chunk
                    logger.error("cannot write the event spill: %s; retrying", exc)
                    await backoff.sleep()
                    continue
                finally:
                    self._spill_busy, self._spill_writing = False, 0
                backoff.reset()
            self._wakeup.set()

    async def _to_stream(self, payloads: list[bytes]) -> None:
        """XADD ``payloads`` (one script call), then wait for the replicas if asked to."""
        await self._xadd(
            keys=[self._stream_key],
            args=[self._settings.stream_maxlen, STREAM_FIELD, *payloads],
        )
        if self._wait_replicas:
            await self._replicated()

    async def _write_adopted(self, payloads: list[bytes]) -> None:
        """A dead node's events (``adoption.py``), in batches; a failure raises (the
        adopter leaves the directory for its next round)."""
        size = max(1, self._settings.batch_size)
        for start in range(0, len(payloads), size):
            await self._to_stream(payloads[start : start + size])

    async def _write_batch(self) -> bool:
        """XADD one batch; on failure put it back at the front. True if it was written."""
        size = min(self._settings.batch_size, len(self._buffer))
        self._inflight = [self._buffer.popleft() for _ in range(size)]
        try:
            await self._to_stream(self._inflight)
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
            logger.info(
                "event stream writable again; %d events waiting (%d in the spill)",
                self.depth,
                self.spill_depth,
            )
        return True

    async def _replicated(self) -> None:
        """Wait up to ``REPLICA_WAIT_MS`` until ``wait_replicas`` replicas of the stream's
        master hold the batch. A master with fewer live replicas (one just took over from
        a dead master, say) is warned about and the batch counts as written: writing it
        again would only grow the stream with duplicates, and no replica could be lost."""
        timeout_ms = REPLICA_WAIT_MS
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_node_from_key(self._stream_key)
            acked = await self._redis.execute_command(
                "WAIT", self._wait_replicas, timeout_ms, target_nodes=node
            )
        else:
            acked = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                "WAIT", self._wait_replicas, timeout_ms
            )
        short = int(acked) < self._wait_replicas
        if short and not self._unreplicated:
            logger.warning(
                "events written on a master with %s of %d replicas: not replicated yet",
                acked,
                self._wait_replicas,
            )
        elif not short and self._unreplicated:
            logger.info("events replicated again")
        self._unreplicated = short

    def _note_failure(self, exc: Exception) -> None:
        self.failures += 1
        if isinstance(exc, RedisError):
            if not self._failing:
                logger.warning(
                    "cannot write events to Redis (%s: %s); keeping %d and retrying",
                    type(exc).__name__,
                    exc,
                    self.depth,
                )
        else:
            logger.exception("unexpected error writing events; keeping them and retrying")
        self._failing = True
