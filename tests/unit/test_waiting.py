"""The tests' own waiting helper (tests/support/waiting.py): it returns what it waited
for, and a failure names what was awaited and the last value seen."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import eventually


async def test_returns_the_first_value_that_holds_from_a_function_or_a_coroutine() -> None:
    counter = itertools.count()
    assert await eventually(lambda: next(counter) >= 3, what="three") is True

    async def probe() -> int:
        return next(counter)

    assert await eventually(probe, until=lambda n: n >= 6, what="six") == 6


async def test_a_timeout_says_what_was_awaited_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the answer; last seen: 41"):
        await eventually(lambda: 41, until=lambda n: n == 42, timeout=0.05, what="the answer")


async def test_listed_exceptions_count_as_not_yet_others_propagate() -> None:
    attempts = itertools.count()

    def flaky() -> str:
        if next(attempts) < 2:
            raise ConnectionError("restarting")
        return "up"

    assert await eventually(flaky, ignoring=(ConnectionError,), what="up") == "up"

    def broken() -> str:
        raise ValueError("a bug, not a restart")

    with pytest.raises(ValueError):
        await eventually(broken, ignoring=(ConnectionError,), what="never")
