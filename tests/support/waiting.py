"""Waiting in tests: ``eventually`` polls until a condition holds, and when it gives up
says what it waited for and the last value it saw.

Tests wait for what they expect instead of sleeping a guessed time. Negative checks
("nothing else happened") are not made by waiting: send a marker after the action, wait
for the marker, then assert absence (tests/support/markers.py).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(
    check: Callable[[], Any],
    *,
    what: str,
    until: Callable[[Any], Any] = bool,
    timeout: float = 10,
    interval: float = 0.02,
    ignoring: tuple[type[Exception], ...] = (),
) -> Any:
    """Call ``check`` (a function or a coroutine function) until ``until`` holds for what it
    returns (by default: until it returns something truthy), and return that value. An
    exception of a type in ``ignoring`` (Redis restarting, say) counts as "not yet".

    After ``timeout`` seconds fail with an ``AssertionError`` naming ``what`` was awaited
    and the last value ``check`` returned."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            value = exc
        else:
            if until(value):
                return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last seen: {value!r}"
            )
        await asyncio.sleep(interval)
