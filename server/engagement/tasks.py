"""Background-task plumbing shared by the recorder and the scorer: retry backoff, a
cancellation check that survives Python 3.11's ``wait_for``, and cancel-and-wait."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

logger = logging.getLogger(__name__)

BACKOFF_MIN: Final = 0.05
BACKOFF_MAX: Final = 1.0


class Backoff:
    """Exponential retry delay: ``sleep()`` waits and doubles it, ``reset()`` after a
    success starts again from the bottom."""

    __slots__ = ("_high", "_low", "delay")

    def __init__(self, low: float = BACKOFF_MIN, high: float = BACKOFF_MAX) -> None:
        self._low, self._high = low, high
        self.delay = low

    def reset(self) -> None:
        self.delay = self._low

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self._high)


def check_cancelled() -> None:
    """Raise ``CancelledError`` if someone asked to cancel this task.

    On Python 3.11, ``asyncio.wait_for`` (which redis-py uses to send every command when
    ``socket_timeout`` is set) swallows a cancellation that lands in the same loop turn
    as its inner future finishing (python/cpython#86296, fixed in 3.12). The command
    then returns normally and the loop would run on; the request count still shows it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(task: asyncio.Task[None], limit: float = 5.0) -> None:
    """Cancel ``task`` until it ends (see ``check_cancelled``), for at most ``limit`` s.

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
