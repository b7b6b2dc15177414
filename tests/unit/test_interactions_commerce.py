"""Purchase reports (signature and body checks) and the coalescer behind aggregated updates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.http.commerce import InputError, check_signature, parse_purchase, sign
from server.rooms.coalesce import Coalescer

SECRET = "webhook-secret"
BODY = b'{"order_id":"o-1"}'
NOW = 1_800_000_000


def test_a_fresh_signature_over_the_exact_body_passes() -> None:
    assert check_signature(SECRET, sign(SECRET, BODY, NOW), BODY, NOW + 10, 300) is None


@pytest.mark.parametrize(
    ("header", "body", "now", "words"),
    [
        (sign("other-secret", BODY, NOW), BODY, NOW, "does not match"),
        (sign(SECRET, BODY, NOW), BODY + b" ", NOW, "does not match"),
        (sign(SECRET, BODY, NOW), BODY, NOW + 301, "too old"),
        (sign(SECRET, BODY, NOW), BODY, NOW - 301, "in the future"),
        (f"v1={sign(SECRET, BODY, NOW).split('v1=')[1]}", BODY, NOW, "no timestamp"),
        ("t=abc,v1=00", BODY, NOW, "no timestamp"),
        (f"t={NOW}", BODY, NOW, "does not match"),
        ("", BODY, NOW, "no timestamp"),
    ],
)
def test_bad_signatures_say_why(header: str, body: bytes, now: int, words: str) -> None:
    problem = check_signature(SECRET, header, body, now, 300)
    assert problem is not None and words in problem


def test_several_v1_values_allow_rotating_the_secret() -> None:
    old = sign("old-secret", BODY, NOW).split(",")[1]
    header = f"{sign(SECRET, BODY, NOW)},{old}"
    assert check_signature(SECRET, header, BODY, NOW, 300) is None
    assert check_signature("old-secret", header, BODY, NOW, 300) is None


GOOD: dict[str, Any] = {
    "order_id": "#1001",
    "member_id": "cora",
    "product_id": "bag-1",
    "amount": 49.9,
    "currency": "EUR",
}


@pytest.mark.parametrize(
    ("amount", "stored"), [(49.9, "49.90"), (49, "49.00"), ("129.90", "129.90"), (0.1, "0.10")]
)
def test_amounts_become_the_event_contracts_decimal_string(amount: Any, stored: str) -> None:
    parsed = parse_purchase(json.dumps({**GOOD, "amount": amount}).encode())
    assert parsed["amount"] == stored
    assert parsed["order_id"] == "#1001"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": -1},
        {"amount": 0},
        {"amount": 1.005},
        {"amount": "1e3"},
        {"amount": None},
        {"currency": "eur"},
        {"member_id": "no spaces allowed"},
        {"product_id": ""},
        {"order_id": "has space"},
        {"order_id": 5},
        {"surprise": 1},
    ],
)
def test_bad_purchases_are_refused_with_a_sentence(change: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        parse_purchase(json.dumps({**GOOD, **change}).encode())
    assert (caught.value.status, caught.value.code) == (400, "invalid_field")
    assert caught.value.message[0].isupper() and caught.value.message.endswith(".")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"x"'])
def test_bodies_that_are_not_objects(body: bytes) -> None:
    with pytest.raises(InputError) as caught:
        parse_purchase(body)
    assert caught.value.code == "bad_json"


@given(st.binary(max_size=200))
def test_any_body_is_parsed_or_refused_never_crashes(body: bytes) -> None:
    try:
        parse_purchase(body)
    except InputError as exc:
        assert exc.status == 400


# --- coalescer -------------------------------------------------------------------------


async def marker_flush(interval: float) -> None:
    """A marker for the coalescer under test: another coalescer with the same interval,
    marked now. Once it has flushed, any timer the one under test had armed before this
    call has fired too (timers fire in the order they are due)."""
    flushed = asyncio.Event()
    Coalescer(interval, lambda keys: flushed.set()).mark("marker")
    await asyncio.wait_for(flushed.wait(), 5)


async def test_coalescer_sends_each_key_once_per_interval() -> None:
    flushed: list[list[Hashable]] = []
    flush_seen = asyncio.Event()

    def flush(keys: list[Hashable]) -> None:
        flushed.append(keys)
        flush_seen.set()

    coalescer = Coalescer(0.05, flush)
    for _ in range(100):
        coalescer.mark("reactions")
        coalescer.mark(("poll", "v1"))
    assert coalescer.pending and flushed == []
    await asyncio.wait_for(flush_seen.wait(), 5)
    assert flushed == [["reactions", ("poll", "v1")]]
    assert not coalescer.pending
    await marker_flush(coalescer.interval)
    assert len(flushed) == 1  # nothing marked, nothing sent, no timer left


async def test_coalescer_survives_a_failing_flush_and_can_be_cancelled() -> None:
    calls: list[list[Hashable]] = []
    flush_seen = asyncio.Event()

    def flush(keys: list[Hashable]) -> None:
        calls.append(keys)
        flush_seen.set()
        raise RuntimeError("boom")

    async def next_flush() -> None:
        await asyncio.wait_for(flush_seen.wait(), 5)
        flush_seen.clear()

    coalescer = Coalescer(0.01, flush)
    coalescer.mark("a")
    await next_flush()
    coalescer.mark("b")
    await next_flush()
    assert calls == [["a"], ["b"]]
    coalescer.mark("c")
    coalescer.cancel()
    await marker_flush(coalescer.interval)
    assert calls == [["a"], ["b"]]
