"""The protocol fuzzer in the suite: a few seconds of hypothesis bursts (at least 2,000
frames, JSON and msgpack) against a real server on a real Redis.

Asserted: no traceback in the log (no record at ERROR with exc_info), every error code
documented in docs/protocol.md and none ``internal``, each fuzzed socket answering a
ping after every burst (or closed with a documented code), the watcher's marker lines
reaching everyone, and the process's memory flat within a bound.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psutil
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import RELAXED, make_settings, token
from tests.fuzz.ws_fuzz import documented_codes, run_ws_fuzz

MIN_FRAMES = 2000
RSS_BOUND = 96 * 1024 * 1024  # the fuzzer, hypothesis and the server share this process


class _TracebackCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def traceback_counter() -> Iterator[_TracebackCounter]:
    handler = _TracebackCounter()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_the_documented_codes_are_read_from_the_protocol() -> None:
    codes, closes = documented_codes()
    assert {
        "bad_message",
        "invalid_text",
        "wrong_encoding",
        "media_failed",
        "rate_limited",
    } <= codes
    assert {1000, 1009, 4403, 4409, 4410} <= closes


def test_the_rewards_codes_are_in_a_code_table() -> None:
    """After the rewards merge the rewards codes were listed in a sentence, not a table
    headed ``code``: the fuzzer took every rewards refusal for an undocumented code."""
    codes, _ = documented_codes()
    assert {"staff", "no_drop", "no_quiz", "already_checked_in", "no_reward", "invalid"} <= codes


@pytest.mark.timeout(180)
async def test_ws_fuzz_leaves_the_room_standing(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: EmbeddedRedis,
    redis: Redis,
    traceback_counter: _TracebackCounter,
) -> None:
    members = MemberStore(redis)
    for member in ("fz-host", "fz-member", "fz-watcher"):
        await ops.set_member(members, member, "core", member)
    await ops.create_room(RoomStore(redis), "fuzz", "Fuzz room", "core", capacity=10)
    settings = make_settings(redis_server.url, **RELAXED)
    client = await aiohttp_client(create_app(settings))
    url = str(client.make_url("/ws")).replace("http", "ws", 1)
    process = psutil.Process()

    result = await run_ws_fuzz(
        url,
        seconds=4.0,
        host_token=token("fz-host", room="fuzz", role="host"),
        member_tokens=[token("fz-member", room="fuzz"), token("fz-watcher", room="fuzz")],
        room="fuzz",
        min_frames=MIN_FRAMES,
        marker_every=0.0,
        max_message_bytes=settings.signaling.max_message_bytes,
        tracebacks=lambda: len(traceback_counter.records),
        rss=lambda: int(process.memory_info().rss),
    )
    print(result)
    assert result["frames"] >= MIN_FRAMES
    assert result["failures"] == [], (result["failures"], result)
    assert result["tracebacks"] == 0, [
        logging.Formatter().format(r) for r in traceback_counter.records
    ]
    assert result["markers"] >= 10
    assert result["errors"].get("invalid_text", 0) > 0  # the bad text did arrive
    assert result["rss_after"] - result["rss_before"] < RSS_BOUND, result
