"""Keyframe requests towards a publisher, throttled (both forwarding paths use it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Keyframer:
    """Calls ``send`` (a PLI to the publisher) at most once per ``interval`` seconds.

    A request inside the interval is not lost: one PLI goes out when the interval ends.
    """

    def __init__(self, send: Callable[[], None], interval: float) -> None:
        self._send_pli = send
        self._interval = interval
        self._last = -1e9
        self._pending: asyncio.TimerHandle | None = None
        self.sent = 0

    def request(self) -> None:
        if self._pending is not None:
            return
        wait = self._last + self._interval - time.monotonic()
        if wait <= 0:
            self._send()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._send)

    def _send(self) -> None:
        self._pending = None
        self._last = time.monotonic()
        self.sent += 1
        self._send_pli()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
