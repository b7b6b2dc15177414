"""Media's process counters, and the accounting of its background tasks' failures.

One ``MediaCounters`` per application (``RoomService`` makes it, every room's feeds and
sinks add to it), so ``/metrics`` reads true counters: they only grow, whatever rooms
open and close (a sum over live rooms fell when a room closed, which Prometheus reads as
a reset). ``watch`` owns the failure path of a task nobody awaits: its exception is
logged and counted instead of vanishing with the task.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class MediaCounters:
    """Totals since the process started (never decrease)."""

    frames_in: int = 0  # frames received from publishers
    packets_in: int = 0  # RTP media packets received from publishers (packet path)
    frames_out: int = 0  # frames forwarded to subscribers
    packets_out: int = 0  # RTP packets forwarded to subscribers (retransmissions apart)
    bytes_out: int = 0  # payload bytes forwarded to subscribers
    keyframe_requests: int = 0  # PLIs sent to publishers
    retransmissions: int = 0  # subscribers' NACKs answered from a feed's cache
    task_failures: int = 0  # background tasks and callbacks that raised

    def count_failure(self) -> None:
        """Count a failure that its reporter logs itself (``aiortc_compat.Guard``)."""
        self.task_failures += 1

    def failed(self, what: str, error: BaseException | None = None) -> None:
        """Count a failure of ``what``; log it (with its traceback when given)."""
        self.task_failures += 1
        if error is not None:
            logger.error("media: %s failed: %r", what, error, exc_info=error)
        else:
            logger.error("media: %s failed", what)

    def watch(self, task: asyncio.Task[T], what: str) -> asyncio.Task[T]:
        """Log and count ``task``'s exception when it ends with one; returns ``task``."""

        def done(finished: asyncio.Task[Any]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                self.failed(what, finished.exception())

        task.add_done_callback(done)
        return task

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))
