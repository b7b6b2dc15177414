"""Coalesced broadcasts: many changes in a short window become one update per key.

A ``Coalescer`` belongs to one room. Handlers ``mark`` what changed (the reaction tally,
a poll's results, a product's click count); at most once per ``interval`` the marked
keys are handed to ``flush``, which reads the current state and broadcasts it. Nothing
runs while nothing is marked: the timer exists only while keys are waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, interval: float, flush: Callable[[list[Hashable]], None]) -> None:
        self.interval = interval
        self._flush = flush
        self._dirty: dict[Hashable, None] = {}  # an ordered set
        self._handle: asyncio.TimerHandle | None = None

    def mark(self, key: Hashable) -> None:
        self._dirty[key] = None
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self.interval, self._fire)

    @property
    def pending(self) -> bool:
        return bool(self._dirty)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._dirty.clear()

    def _fire(self) -> None:
        keys = list(self._dirty)
        self._dirty.clear()
        self._handle = None
        try:
            self._flush(keys)
        except Exception:
            logger.exception("coalesced broadcast failed for %s", keys)
