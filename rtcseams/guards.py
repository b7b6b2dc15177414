"""Owned fire-and-forget tasks and exception guards for callbacks run inside aiortc's
transport loops: a failure is logged and counted, never raised into aiortc (where it
would end a peer connection's DTLS loop) and never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

Count = Callable[[], None]


def uncounted() -> None:
    pass


class Guard:
    """Runs the forwarder's callbacks for aiortc's transport loops: an exception is logged
    (the first, then every thousandth) and counted (here and by ``count``), never raised
    into aiortc, where it would end the peer connection's DTLS loop and with it the
    publisher's media."""

    def __init__(self, what: str, count: Count = uncounted) -> None:
        self._what = what
        self._count = count
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1
        self._count()
        if self.failures % 1000 == 1:
            logger.exception("%s failed (%d so far)", self._what, self.failures)


class Tasks:
    """Fire-and-forget sends, owned: failures are logged and counted, never lost."""

    def __init__(self, what: str, count: Count = uncounted) -> None:
        self._what = what
        self._count = count
        self._running: set[asyncio.Task[None]] = set()
        self.failures = 0

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            self._count()
            logger.warning("%s failed: %r", self._what, task.exception())

    def cancel(self) -> None:
        for task in self._running:
            task.cancel()
