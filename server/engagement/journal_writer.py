"""The recorder's side of the journal: which events must reach it, when, and who waits.

``add(payload)`` (synchronous, called by ``EventRecorder.record``) counts every recorded
event and, while a journal is attached and started, writes it there at once
(``Journal.write``: one small ``write(2)``, no fsync): an event the room acknowledges
right after recording it (a chat line is broadcast at once) is in the kernel by then, so
a ``kill -9`` of this process cannot lose it (docs/decisions.md, "Acknowledged events
survive kill -9"). Before the start, and while an earlier write failed, events wait in a
backlog that the task writes first (the journal's n-th record is the n-th event
recorded). One task makes them durable against power loss (fsync, through a thread): at
the latest ``interval`` seconds after the oldest unsynced event was recorded, or at once
when someone waits in ``durable()``. Every caller that waits while a sync is in progress
shares the next one: group commit, one fsync for all of them. The same thread call
releases what Redis already has (``done``, counted by the recorder in record order).

``durable(timeout)`` returns once every event recorded so far is in the journal
(fsynced) or in Redis (``progress()`` is called after each batch Redis took): the REST
edges await it before they answer. Without a journal (no spill directory, or a disk that
failed) only Redis counts. ``open_journal`` starts one, replaying a dead process's
through the spill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from server.engagement.journal import Journal
from server.engagement.records import HEADER
from server.engagement.spill import Spill
from server.engagement.tasks import Backoff, cancel_and_wait

logger = logging.getLogger(__name__)

# Seconds between two releases of what Redis has taken, when no event comes.
RELEASE_EVERY: Final = 0.5


class JournalWriter:
    """Group commit of recorded events to the journal; see the module docstring."""

    def __init__(
        self, interval: float, queue_max: int, done: Callable[[], int], enabled: bool = True
    ) -> None:
        # Events are queued from the first one on (even before ``start``), so that the
        # journal's n-th record is the n-th event recorded: ``done`` counts in the same
        # order.
        self._enabled = enabled
        self._interval = interval
        self._queue_max = queue_max
        self._done = done
        self._journal: Journal | None = None
        # Framed records (header, payload, header, ...) waiting to be written: before the
        # start, after a failed write, and while the task writes an earlier backlog.
        self._backlog: list[bytes] = []
        self._queued = 0
        # Records written (in the kernel) but not yet fsynced, and since when.
        self._unsynced = 0
        self._writing = False
        self._since = 0.0
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Events recorded (by ordinal), and how many of them are in the journal.
        self.recorded = 0
        self.journalled = 0
        # Fsyncs done: with group commit, far fewer than the requests that waited.
        self.commits = 0

    @property
    def journal(self) -> Journal | None:
        return self._journal

    @property
    def stopped(self) -> bool:
        """``stop`` was called: a writer is not started twice."""
        return self._stopping

    @property
    def lag(self) -> int:
        """Events recorded but not yet in the journal (fsynced)."""
        return self._queued + self._unsynced

    def attach(self, journal: Journal) -> None:
        """Write to ``journal`` (call before ``start``)."""
        self._journal = journal

    def add(self, payload: bytes) -> None:
        """Count a recorded event and write it to the journal (or queue it). Synchronous;
        one small write to the page cache at most."""
        self.recorded += 1
        if not self._enabled:
            return
        if not self._queued + self._unsynced:
            self._since = time.monotonic()
            self._wakeup.set()
        framed = HEADER.pack(len(payload)) + payload
        journal = self._journal
        if journal is not None and self._task is not None and not (self._queued or self._writing):
            try:
                journal.write(framed, 1)
            except OSError as exc:
                logger.error("cannot write the event journal: %s; retrying", exc)
            else:
                self._unsynced += 1
                return
        self._backlog.append(framed)
        self._queued += 1
        if self._queued > self._queue_max:
            self._give_up()

    def _give_up(self) -> None:
        """The disk cannot keep up: stop journalling (Redis alone counts from now on)."""
        logger.error(
            "the event journal is %d events behind: journalling stops until restart",
            self._queued,
        )
        self._enabled = False
        self._backlog, self._queued, self._unsynced = [], 0, 0
        self._wakeup.set()

    def start(self) -> None:
        """Start writing; without a journal attached, journalling is off for good."""
        if self._journal is None:
            self._enabled, self._backlog, self._queued = False, [], 0
        elif self._task is None:
            self._task = asyncio.create_task(self._run(), name="salon-event-journal")

    async def stop(self, timeout: float = 5.0) -> None:
        """Let the write in progress finish, then stop the task (the journal stays open:
        the recorder closes it once the leftovers are safe)."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        self._wakeup.set()
        self._urgent.set()
        await asyncio.wait([task], timeout=timeout)
        await cancel_and_wait(task)

    async def durable(self, timeout: float) -> None:
        """Wait until every event recorded so far is in the journal or in Redis;
        ``TimeoutError`` after ``timeout`` seconds."""
        target = self.recorded
        if target <= self._safe():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (target, future)
        self._waiters.append(waiter)
        self._urgent.set()
        self._wakeup.set()
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def progress(self) -> None:
        """Redis or the journal took more: wake whoever waits for them."""
        if not self._waiters:
            return
        safe = self._safe()
        for target, future in self._waiters:
            if target <= safe and not future.done():
                future.set_result(None)

    def _safe(self) -> int:
        return max(self.journalled, self._done())

    async def _run(self) -> None:
        backoff = Backoff()
        failing = False
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RELEASE_EVERY):
                    await self._wakeup.wait()
            self._wakeup.clear()
            wait = self._since + self._interval - time.monotonic()
            pending = self._queued + self._unsynced
            if pending and wait > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._urgent.wait()
            self._urgent.clear()
            journal = self._journal
            if journal is None or not self._enabled:
                return
            chunk, count = self._backlog, self._queued
            self._backlog, self._queued = [], 0
            unsynced, self._unsynced = self._unsynced, 0
            # Events recorded meanwhile queue behind the chunk: the order is kept.
            self._writing = bool(count)
            try:
                durable = await asyncio.to_thread(
                    _write, journal, chunk, count, self._done(), bool(count or unsynced)
                )
            except OSError as exc:
                self._backlog[:0] = chunk
                self._queued += count
                self._unsynced += unsynced
                if not failing:
                    logger.error("cannot write the event journal: %s; retrying", exc)
                failing = True
                self._wakeup.set()
                await backoff.sleep()
                continue
            finally:
                self._writing = False
            if failing:
                logger.info("the event journal is writable again")
            failing = False
            backoff.reset()
            if self._queued:
                self._urgent.set()  # queued behind the chunk: written next, not later
                self._wakeup.set()
            if durable > self.journalled:
                self.journalled = durable
                self.commits += 1
                self.progress()


async def open_journal(spill: Spill, segment_bytes: int) -> Journal | None:
    """A journal in the (open) spill's directory, after moving the one a dead process
    left there to the front of the spill; None if the disk refuses."""
    directory = spill.directory
    assert directory is not None
    journal = Journal(directory, segment_bytes)
    try:
        left = await asyncio.to_thread(journal.recover)
        if left:
            # In the spill (fsynced) first, then out of the journal: a crash between the
            # two replays them twice, which the scorer absorbs.
            await asyncio.to_thread(spill.append, left, True)
            await asyncio.to_thread(journal.discard)
            logger.warning(
                "%d events from the journal of a process that stopped are replayed", len(left)
            )
    except OSError as exc:
        logger.error("cannot open the event journal in %s: %s", directory, exc)
        return None
    return journal


def _write(journal: Journal, framed: list[bytes], count: int, done: int, sync: bool) -> int:
    """Write the backlog, fsync (if anything is new), release what Redis has; return the
    records durable (0: nothing synced now)."""
    journal.write(b"".join(framed), count)
    durable = journal.sync() if sync else 0
    journal.release(done)
    return durable
