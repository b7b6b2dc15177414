"""Recorder and scorer against a real redis-server: ordering, outages, exactly-once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import (
    STREAM_FIELD,
    STREAM_KEY,
    Event,
    EventKind,
    decode,
    new_event,
    now_ms,
)
from server.engagement.ledger import TRIM_MARGIN_MS
from server.engagement.members import MemberStore, Tier, applied_key, member_key
from server.engagement.recorder import EventRecorder
from server.engagement.rules import parse_rules
from server.engagement.scorer import Scorer
from server.engagement.scoring import APPLIED_RETENTION_MS
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import Restartable, xadd
from tests.support.waiting import eventually

# No disk spill here (tests/functional/test_engagement_outage.py has it): a full buffer
# drops, as these tests expect.
SETTINGS = EngagementSettings(spill_dir="")
DAY_MS = 24 * 3600 * 1000
# Mechanics, not rules: a point per join and per minute watched, no caps, slow decay.
RULES = parse_rules(
    {"half_life_days": 100000, "points": {"join": 1.0, "watch_minute": 1.0}}, "test rules"
)


def make_scorer(redis: Redis, name: str = "s1") -> Scorer:
    return Scorer(redis, SETTINGS, name, rules=RULES)


def join(member: str, room: str = "room") -> Event:
    return new_event(EventKind.JOIN, room, MemberId(member))


def leave(member: str, watch_seconds: Any, room: str = "room") -> Event:
    return new_event(EventKind.LEAVE, room, MemberId(member), watch_seconds=watch_seconds)


async def stream_events(redis: Redis) -> list[Event]:
    return [decode(fields[STREAM_FIELD]) for _id, fields in await redis.xrange(STREAM_KEY)]


async def score(redis: Redis, member: str) -> float | None:
    raw = await redis.hget(member_key(MemberId(member)), "score")
    return None if raw is None else round(float(raw), 6)


@pytest.fixture
async def recorder(redis: Redis) -> AsyncIterator[EventRecorder]:
    rec = EventRecorder(redis, dataclasses.replace(SETTINGS, batch_size=100))
    try:
        yield rec
    finally:
        await rec.stop()


# --- recorder -----------------------------------------------------------------------


async def test_recorder_writes_events_to_the_stream_in_order(
    redis: Redis, recorder: EventRecorder
) -> None:
    events = [join(f"m{i % 7}") for i in range(1234)]
    await recorder.start()
    for event in events:
        recorder.record(event)
    await recorder.flush()
    assert await stream_events(redis) == events
    assert (recorder.written, recorder.depth, recorder.dropped) == (1234, 0, 0)


async def test_events_recorded_before_start_are_written(
    redis: Redis, recorder: EventRecorder
) -> None:
    events = [join("a"), leave("a", 30.0)]
    for event in events:
        recorder.record(event)
    assert recorder.depth == 2
    await recorder.start()
    await recorder.flush()
    assert await stream_events(redis) == events


async def test_stop_writes_what_is_left(redis: Redis, recorder: EventRecorder) -> None:
    await recorder.start()
    events = [join(f"m{i}") for i in range(300)]
    for event in events:
        recorder.record(event)
    await recorder.stop()
    assert not recorder.running
    assert await stream_events(redis) == events


async def test_flush_needs_a_running_recorder(recorder: EventRecorder) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        await recorder.flush()


async def test_full_buffer_keeps_the_oldest_and_counts_the_rest(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    rec = EventRecorder(redis, dataclasses.replace(SETTINGS, buffer_max=5))
    events = [join(f"m{i}") for i in range(8)]
    with caplog.at_level(logging.WARNING, "server.engagement.recorder"):
        for event in events:
            rec.record(event)
    assert (rec.depth, rec.dropped) == (5, 3)
    # One warning for the episode, not one per dropped event.
    assert len([r for r in caplog.records if "buffer full" in r.message]) == 1
    await rec.start()
    await rec.flush()
    await rec.stop()
    assert await stream_events(redis) == events[:5]


async def test_record_never_raises_on_data_msgpack_cannot_carry(
    recorder: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "server.engagement.recorder"):
        recorder.record(new_event("chat", "r", MemberId("m"), text=object()))
    assert (recorder.invalid, recorder.depth) == (1, 0)
    assert "cannot be encoded" in caplog.text


async def test_recorder_keeps_events_while_redis_is_down(own_redis: Restartable) -> None:
    server = await own_redis.up()
    client = Redis.from_url(server.url)
    rec = EventRecorder(client, SETTINGS)
    try:
        await rec.start()
        before = [join(f"b{i}") for i in range(20)]
        for event in before:
            rec.record(event)
        await rec.flush()
        assert await stream_events(client) == before

        await own_redis.down()
        during = [join(f"d{i}") for i in range(30)]
        for event in during:
            rec.record(event)  # returns at once: nothing here waits for Redis

        async def has_failed() -> bool:
            return rec.failures >= 1

        await eventually(
            has_failed, ignoring=(RedisConnectionError,), what="a failed write counted"
        )
        assert rec.depth == 30

        await own_redis.up()  # a new, empty server on the same port
        await rec.flush(timeout=15)
        # The client reconnected by itself; every event kept in memory arrived, in order.
        assert await stream_events(client) == during
        assert (rec.written, rec.dropped, rec.depth) == (50, 0, 0)
    finally:
        await rec.stop()
        await client.aclose()


# --- scorer -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
async def test_scorer_applies_join_and_leave_points(
    redis_server: EmbeddedRedis, redis: Redis, protocol: int
) -> None:
    client = Redis.from_url(redis_server.url, protocol=protocol)
    try:
        scorer = make_scorer(client)
        await xadd(redis, join("alice"), leave("alice", 90.0), join("bob"))
        assert await scorer.process_once() == 3
        assert await scorer.process_once() == 0
    finally:
        await client.aclose()
    assert await score(redis, "alice") == 2.5
    assert await score(redis, "bob") == 1.0
    # Someone with no member record gets scoring state but no tier: not a member.
    assert await redis.hget(member_key(MemberId("bob")), "tier") is None
    assert await MemberStore(redis).get(MemberId("bob")) is None
    pending = await redis.xpending(STREAM_KEY, SETTINGS.scorer_group)
    assert pending["pending"] == 0


async def test_scorer_keeps_the_members_tier(redis: Redis) -> None:
    """Regression (issue 14): the score decays between the event and the read, so an
    exact comparison with 1.5 failed now and then (1.4999999999999196)."""
    store = MemberStore(redis)
    await store.set(MemberId("carol"), Tier.ACTIVE, "Carol")
    await xadd(redis, join("carol"), leave("carol", 30))
    await make_scorer(redis).process_once()
    member = await store.get(MemberId("carol"))
    assert member is not None
    assert (member.tier, member.name) == (Tier.ACTIVE, "Carol")
    assert member.score == pytest.approx(1.5, rel=1e-9)


async def test_replayed_event_counts_once(redis: Redis) -> None:
    event = join("dave")
    await xadd(redis, event, event)
    scorer = make_scorer(redis)
    assert await scorer.process_once() == 1
    assert scorer.duplicates == 1
    await xadd(redis, event)
    assert await make_scorer(redis, "s2").process_once() == 0
    assert await score(redis, "dave") == 1.0


async def test_events_older_than_the_dedup_window_are_refused(redis: Redis) -> None:
    old = dataclasses.replace(join("erin"), ts_ms=now_ms() - 31 * DAY_MS)
    await xadd(redis, old)
    scorer = make_scorer(redis)
    assert await scorer.process_once() == 0
    assert scorer.too_old == 1
    assert await score(redis, "erin") is None


async def test_applied_set_is_trimmed_by_age_and_expires(redis: Redis) -> None:
    key = applied_key(MemberId("fay"))
    # Ids are kept a margin longer than events are accepted: scorers whose clocks differ
    # a little never let a trimmed id count twice.
    kept = now_ms() - APPLIED_RETENTION_MS - TRIM_MARGIN_MS + 3_600_000
    await redis.zadd(key, {"ancient": now_ms() - 32 * DAY_MS, "kept": kept})
    fresh = join("fay")
    await xadd(redis, fresh)
    await make_scorer(redis).process_once()
    assert set(await redis.zrange(key, 0, -1)) == {b"kept", fresh.id.encode()}
    assert 0 < await redis.pttl(key) <= APPLIED_RETENTION_MS + TRIM_MARGIN_MS


async def test_malformed_entries_are_acked_and_skipped(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.xadd(STREAM_KEY, {STREAM_FIELD: b"\xc1 not an event"})
    await redis.xadd(STREAM_KEY, {b"other": b"field"})
    await xadd(redis, join("gus"))
    scorer = make_scorer(redis)
    with caplog.at_level(logging.WARNING, "server.engagement.scorer"):
        assert await scorer.process_once() == 1
    assert scorer.malformed == 2
    assert await score(redis, "gus") == 1.0
    assert (await redis.xpending(STREAM_KEY, SETTINGS.scorer_group))["pending"] == 0
    warnings = [r for r in caplog.records if "malformed" in r.message]
    assert len(warnings) == 2 and all(r.exc_info is None for r in warnings)


async def test_a_broken_member_key_does_not_wedge_the_group(redis: Redis) -> None:
    await redis.set(member_key(MemberId("hal")), "not a hash")
    await xadd(redis, join("hal"), join("ida"))
    scorer = make_scorer(redis)
    assert await scorer.process_once() == 1
    assert scorer.failed == 1
    assert await score(redis, "ida") == 1.0
    assert (await redis.xpending(STREAM_KEY, SETTINGS.scorer_group))["pending"] == 0


async def test_two_scorers_in_one_group_split_the_work(redis: Redis) -> None:
    events = [join(f"m{i % 10}") for i in range(200)]
    await xadd(redis, *events)
    a, b = make_scorer(redis, "a"), make_scorer(redis, "b")
    while await a.process_once(count=10) + await b.process_once(count=10):
        pass
    assert (a.applied, b.applied) == (100, 100)
    for i in range(10):
        assert await score(redis, f"m{i}") == 20.0


async def test_running_scorers_score_what_the_recorder_writes(
    redis: Redis, recorder: EventRecorder
) -> None:
    scorers = [make_scorer(redis, name) for name in ("a", "b")]
    await recorder.start()
    for scorer in scorers:
        await scorer.start()
    try:
        for i in range(300):
            recorder.record(join(f"m{i % 3}"))
            recorder.record(leave(f"m{i % 3}", 30))
            if i % 50 == 0:
                await asyncio.sleep(0)

        async def all_applied() -> bool:
            return sum(s.applied for s in scorers) == 600

        await eventually(all_applied, ignoring=(RedisConnectionError,), what="every event applied")
    finally:
        for scorer in scorers:
            await scorer.stop()
    assert not any(s.running for s in scorers)
    for i in range(3):
        assert await score(redis, f"m{i}") == 150.0


async def test_own_pending_entries_are_redone_after_a_crash(redis: Redis) -> None:
    """A consumer that read entries and died before acking gets them again on restart."""
    scorer = make_scorer(redis)
    await scorer.ensure_group()
    await xadd(redis, join("jon"), join("kim"))
    await redis.xreadgroup(SETTINGS.scorer_group, "s1", {STREAM_KEY: ">"}, count=10)
    assert await scorer.process_once() == 2
    assert await score(redis, "jon") == 1.0


async def test_claim_stale_takes_over_a_dead_consumers_entries(redis: Redis) -> None:
    scorer = make_scorer(redis, "alive")
    await scorer.ensure_group()
    await xadd(redis, *(join(f"m{i}") for i in range(250)))
    await redis.xreadgroup(SETTINGS.scorer_group, "dead", {STREAM_KEY: ">"}, count=1000)
    assert await scorer.process_once() == 0
    assert await scorer.claim_stale(min_idle_ms=60_000) == 0
    assert await scorer.claim_stale(min_idle_ms=0) == 250
    assert (await redis.xpending(STREAM_KEY, SETTINGS.scorer_group))["pending"] == 0


async def test_scorer_refuses_a_decoding_client(redis_server: EmbeddedRedis) -> None:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            Scorer(client, SETTINGS, "s1")
    finally:
        await client.aclose()


async def test_scorer_stops_even_if_a_cancellation_was_swallowed(redis: Redis) -> None:
    """Regression: stop() hung for ever after a Redis restart on Python 3.11.

    redis-py sends commands through ``asyncio.wait_for``, which on 3.11 can swallow a
    cancellation (python/cpython#86296); the run loop then went on reading. Here the
    swallowing is done on purpose, just before the loop starts.
    """
    scorer = make_scorer(redis)

    async def swallow_then_run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        await scorer.run()

    task = asyncio.create_task(swallow_then_run())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.cancelled()


async def test_scorer_survives_a_redis_restart(own_redis: Restartable) -> None:
    """A restarted Redis (no persistence) has no stream and no group: both come back."""
    server = await own_redis.up()
    client = Redis.from_url(server.url)
    rec = EventRecorder(client, SETTINGS)
    scorer = make_scorer(client)
    try:
        await rec.start()
        await scorer.start()
        rec.record(join("before"))

        async def scored(member: str) -> bool:
            return await score(client, member) == 1.0

        await eventually(
            lambda: scored("before"), ignoring=(RedisConnectionError,), what="before scored"
        )
        await own_redis.down()
        rec.record(join("during"))
        await asyncio.sleep(0.2)
        await own_redis.up()
        await eventually(
            lambda: scored("during"),
            ignoring=(RedisConnectionError,),
            timeout=15,
            what="during scored",
        )

        # The member hash is written before the batch's aggregates and ack; the counter
        # moves only after them, a few awaits later.
        async def counted() -> bool:
            return scorer.applied == 2

        await eventually(counted, ignoring=(RedisConnectionError,), what="two events counted")
        assert scorer.running
    finally:
        await scorer.stop()
        await rec.stop()
        await client.aclose()
