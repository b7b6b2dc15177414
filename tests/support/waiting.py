"""Waiting in tests: ``eventually`` polls a condition until it holds, and says what it
waited for and the last value it saw when it gives up.

Tests wait for what they expect instead of sleeping a guessed time. Negative checks
("nothing else happened") are not made by waiting: send a marker after the action, wait
for the marker, then assert absence.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    what: str,
    timeout: float = 10,
    interval: float = 0.02,
) -> T:
    """Call ``check`` (a function or a coroutine function) until it returns a truthy value,
    and return that value. After ``timeout`` seconds, fail with an ``AssertionError``
    naming ``what`` was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        value = cast(T, await result) if inspect.isawaitable(result) else cast(T, result)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last seen: {value!r}"
            )
        await asyncio.sleep(interval)
