"""When the cyclic garbage collector runs in a serving process: never over the whole heap
while rooms fill.

CPython 3.11 collects the oldest generation whenever it has grown by a quarter, and that
collection walks every tracked object: a node holding 2,000 people has some 300,000, and
each such collection stopped the event loop for 0.2-0.7 s in the middle of a burst of joins
(issue 17; ``gc.callbacks`` timing in docs/decisions.md). ``GcPacing`` does what Instagram
did with ``gc.freeze()``:

- after start-up, everything alive (modules, classes, the app) is frozen: no collection
  looks at it again;
- automatic full collections are off; every ``interval`` seconds a task collects the
  objects that survived since the last time and freezes what is still alive. A pause
  then costs what was made since, not the size of the rooms;
- a reference cycle that becomes garbage after being frozen is only found by a collection
  over everything: every ``full_interval`` seconds everything is unfrozen and collected
  once (the one pause that grows with the heap, rare by design).

Young collections (generations 0 and 1) stay automatic. Only ``server.app.run`` (the
serving process) starts it: the collector's settings are the process's, not an app's.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from server.engagement.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

# A threshold the count of generation-1 collections never reaches: no automatic full one.
NEVER = 2**31 - 1


class GcPacing:
    def __init__(self, interval: float = 1.0, full_interval: float = 900.0) -> None:
        self.interval = interval
        self.full_interval = full_interval
        # The longest pause of each kind so far, in seconds (for logs and tests).
        self.longest = 0.0
        self.longest_full = 0.0
        self.collections = 0
        self.full_collections = 0
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what start-up made, turn automatic full collections off, start pacing."""
        young, middle, _ = self._saved = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(young, middle, NEVER)
        self._task = asyncio.create_task(self._run(), name="gc-pacing")

    async def stop(self) -> None:
        """Stop pacing and give the collector its settings and its frozen objects back."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
            gc.unfreeze()

    def collect(self) -> float:
        """Collect what is not frozen, then freeze the survivors; the pause in seconds."""
        pause = _collect_and_freeze(everything=False)
        self.collections += 1
        self.longest = max(self.longest, pause)
        return pause

    def collect_all(self) -> float:
        """Collect everything, frozen or not, then freeze the survivors again."""
        pause = _collect_and_freeze(everything=True)
        self.full_collections += 1
        self.longest_full = max(self.longest_full, pause)
        return pause

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.full_interval
        while True:
            await asyncio.sleep(self.interval)
            try:
                if loop.time() >= next_full:
                    next_full = loop.time() + self.full_interval
                    pause = self.collect_all()
                    logger.info("gc: full collection, %.1f ms", pause * 1000)
                else:
                    self.collect()
            except Exception:  # the collector must not stop because one finalizer raised
                logger.exception("gc: a paced collection failed")


def _collect_and_freeze(everything: bool) -> float:
    """One collection (of the frozen too when ``everything``), survivors frozen after it;
    how long it took, in seconds."""
    started = time.perf_counter()
    if everything:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started
