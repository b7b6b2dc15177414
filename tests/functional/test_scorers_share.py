"""Two scorers sharing the consumer group on a real Redis: every event applied once, and
the members' state equal to what one scorer alone makes of the same stream (issue 14:
"let more scorer processes share the load"). Events of one member reach both scorers, in
any order: the ledger's exactly-once ids, its compare-and-set and an order-independent
fold make that safe."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

from redis.asyncio import Redis

from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import Event, EventKind, new_event, now_ms, purchase_data
from server.engagement.members import MemberStore, Tier, applied_key
from server.engagement.rules import load_rules
from server.engagement.scorer import Scorer
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import xadd

SETTINGS = EngagementSettings(spill_dir="")
MEMBERS = 40
EVENTS = 3_000
HOUR_MS = 3_600_000
KINDS = (EventKind.CHAT, EventKind.REACTION, EventKind.UPVOTE, EventKind.JOIN, EventKind.SHARE)


def community(now: int) -> list[Event]:
    """A fixed, shuffled mix of every member's events over the last 20 days, with orders:
    the stream holds each member's events out of time order."""
    rng = random.Random(14)
    events = []
    for i in range(EVENTS):
        member = MemberId(f"m{rng.randrange(MEMBERS)}")
        if i % 50 == 0:
            data = purchase_data(f"o{i}", f"{rng.randrange(1, 400)}.00", "EUR")
            event = new_event(EventKind.PURCHASE, "room", member, **data)
        else:
            event = new_event(KINDS[i % len(KINDS)], "room", member, session="s1")
        ts = now - rng.randrange(1, 20 * 24) * HOUR_MS
        events.append(dataclasses.replace(event, ts_ms=ts))
    return events


async def score_with(url: str, redis: Redis, events: list[Event], scorers: int, now: int) -> Any:
    """Put ``events`` on a flushed stream, let ``scorers`` scorers (each on its own
    connection) work through them together, and return the scorers and every member."""
    await redis.flushdb()
    store = MemberStore(redis)
    for i in range(MEMBERS):
        await store.set(MemberId(f"m{i}"), Tier.POTENTIAL, pinned=False)
    await xadd(redis, *events)
    clients = [Redis.from_url(url) for _ in range(scorers)]
    rules = load_rules()
    team = [
        Scorer(c, SETTINGS, f"s{n}", rules=rules, clock=lambda: now, batch=150)
        for n, c in enumerate(clients)
    ]

    async def work(scorer: Scorer) -> None:
        # Small reads, so that both scorers hold batches with the same members at once.
        while sum(s.applied + s.duplicates for s in team) < len(events):
            await scorer.process_once(count=150)
            await asyncio.sleep(0)

    try:
        await asyncio.wait_for(asyncio.gather(*(work(s) for s in team)), 120)
    finally:
        for client in clients:
            await client.aclose()
    members = {}
    for i in range(MEMBERS):
        member = MemberId(f"m{i}")
        state, orders = await team[0].ledger.read(member)
        applied = await redis.zcard(applied_key(member))
        members[member] = (state, [o.order_id for o in orders], applied)
    return team, members


async def test_two_scorers_apply_every_event_once_as_one_scorer_does(
    redis: Redis, redis_server: EmbeddedRedis
) -> None:
    now = now_ms()
    events = community(now)
    pair, shared = await score_with(redis_server.url, redis, events, 2, now)
    # Both took part, every event was applied exactly once between them.
    assert all(s.applied > EVENTS // 5 for s in pair)
    # They worked on the same members at once: some writes lost the compare-and-set
    # and were read and folded again.
    assert sum(s.conflicts for s in pair) > 0
    assert sum(s.applied for s in pair) == EVENTS
    assert sum(s.duplicates + s.failed + s.too_old + s.malformed for s in pair) == 0
    per_member = {m: sum(e.member_id == m for e in events) for m in shared}
    assert {m: got[2] for m, got in shared.items()} == per_member
    (alone,), single = await score_with(redis_server.url, redis, events, 1, now)
    assert alone.applied == EVENTS
    for member, (state, orders, _applied) in shared.items():
        other, other_orders, _ = single[member]
        # Sums of decayed points in another order: equal up to float rounding.
        assert state.score == other.score or abs(state.score - other.score) < 1e-9 * other.score
        same = ("tier", "orders", "revenue_minor", "interactions", "shares", "last_active")
        assert {f: getattr(state, f) for f in same} == {f: getattr(other, f) for f in same}
        assert sorted(orders) == sorted(other_orders)
    assert {s.tier for s, _o, _a in shared.values()} - {Tier.POTENTIAL}  # tiers moved
