"""The loop against a real Redis: events move a member's tier where the gate reads it,
the sweep notices silence, and the metrics count what happened."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from server.engagement import keys
from server.engagement.aggregates import Aggregates
from server.engagement.events import (
    Event,
    EventKind,
    new_event,
    purchase_data,
)
from server.engagement.importer import parse_members, parse_orders, write_import
from server.engagement.ledger import Ledger, TierChange
from server.engagement.members import MemberStore, Tier, history_key
from server.engagement.reports import Reports
from server.engagement.rules import DAY_MS, load_rules
from server.engagement.scorer import Scorer
from server.engagement.scoring import now_ms, utc_day
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import xadd

SETTINGS = EngagementSettings(spill_dir="")
RULES = load_rules()


class Clock:
    def __init__(self) -> None:
        self.now = now_ms()

    def __call__(self) -> int:
        return self.now


def ev(kind: str, member: str, room: str = "vip", **data: Any) -> Event:
    return new_event(EventKind(kind), room, MemberId(member), **data)


def buy(member: str, order: str, amount: str, room: str = "vip", **extra: Any) -> Event:
    return ev("purchase", member, room, **purchase_data(order, amount, "EUR", **extra))


@pytest.fixture
def changes() -> list[TierChange]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scorer(redis: Redis, changes: list[TierChange], clock: Clock) -> Scorer:
    return Scorer(redis, SETTINGS, "s1", rules=RULES, on_tier_change=changes.append, clock=clock)


async def test_a_purchase_moves_a_potential_member_to_active_where_the_gate_reads_it(
    redis: Redis, scorer: Scorer, changes: list[TierChange]
) -> None:
    store = MemberStore(redis)
    await store.set(MemberId("pia"), Tier.POTENTIAL, "Pia", pinned=False)
    await xadd(redis, ev("join", "pia", session="s1"), ev("chat", "pia", action="send"))
    await scorer.process_once()
    assert (await store.get(MemberId("pia"))).tier is Tier.POTENTIAL  # type: ignore[union-attr]
    assert changes == []
    await xadd(redis, buy("pia", "o-1", "59.00", session="s1"))
    await scorer.process_once()
    member = await store.get(MemberId("pia"))
    assert member is not None and member.tier is Tier.ACTIVE
    [change] = changes
    assert (change.member_id, change.old, change.new) == ("pia", Tier.POTENTIAL, Tier.ACTIVE)
    assert change.reason == "active: orders within 365 days 1 (needs >= 1)"
    history = [json.loads(e) for e in await redis.lrange(history_key(MemberId("pia")), 0, -1)]
    assert [(h["from"], h["to"]) for h in history] == [("potential", "active"), (None, "potential")]
    assert history[0]["reason"] == change.reason


async def test_an_operators_pinned_tier_is_left_alone(
    redis: Redis, scorer: Scorer, changes: list[TierChange]
) -> None:
    store = MemberStore(redis)
    await store.set(MemberId("vip"), Tier.CORE, "V")
    await xadd(redis, ev("join", "vip"))
    await scorer.process_once()
    await scorer.sweep_once()
    member = await store.get(MemberId("vip"))
    assert member is not None and member.tier is Tier.CORE and changes == []


async def test_the_sweep_notices_silence_without_any_event(
    redis: Redis, scorer: Scorer, changes: list[TierChange], clock: Clock
) -> None:
    store = MemberStore(redis)
    await store.set(MemberId("sam"), Tier.POTENTIAL, pinned=False)
    await xadd(redis, ev("join", "sam"))
    await scorer.process_once()
    assert await scorer.sweep_once() == 0  # nothing is due: the next look is weeks away
    clock.now += 59 * DAY_MS
    assert await scorer.sweep_once() == 1  # the six-hour review: nothing to change yet
    assert changes == []
    clock.now += 2 * DAY_MS
    assert await scorer.sweep_once() == 1
    member = await store.get(MemberId("sam"))
    assert member is not None and member.tier is Tier.SILENT
    [change] = changes
    assert change.cause == "sweep" and change.reason.startswith("silent: days without")
    # A member who comes back is no longer silent, at once.
    await xadd(redis, dataclasses.replace(ev("join", "sam"), ts_ms=clock.now))
    await scorer.process_once()
    assert (await store.get(MemberId("sam"))).tier is Tier.POTENTIAL  # type: ignore[union-attr]


async def test_metrics_count_a_session(redis: Redis, scorer: Scorer, clock: Clock) -> None:
    store = MemberStore(redis)
    for member in ("ann", "bob", "cy", "dee"):
        await store.set(MemberId(member), Tier.POTENTIAL, pinned=False)
    s = {"session": "s9"}
    await xadd(
        redis,
        ev("join", "host", role="host", **s),
        ev("join", "ann", **s),
        ev("join", "bob", **s),
        ev("join", "cy", **s),
        ev("chat", "ann", action="send", **s),
        ev("reaction", "ann", emoji="x", **s),
        ev("question", "bob", action="ask", **s),
        ev("chat", "host", action="send", role="host", **s),
        ev("poll_vote", "bob", action="change", **s),  # not an interaction that counts
        buy("ann", "A1", "100.00", **s),
        buy("ann", "A1", "100.00", **s),  # reported twice: one order
        buy("bob", "B1", "20.00", **s),
        ev("leave", "cy", watch_seconds=30, **s),  # an early leave
        ev("leave", "ann", watch_seconds=600, **s),
        ev("leave", "bob", watch_seconds=570, **s),
        ev("invite", "ann", room="", invitee="dee"),
        ev("invite", "ann", room="", invitee="eve"),
        ev("external", "v1", room="", action="hook_click"),
        ev("external", "dee", room="", action="hook_click"),
    )
    await scorer.process_once()
    await xadd(redis, ev("join", "dee", room="other"))
    await scorer.process_once()
    reports = Reports(redis, RULES)
    sessions = {s["session"]: s for s in await reports.sessions()}
    assert set(sessions) == {"vip:s9", f"other:d{utc_day(clock.now)}"}
    session = sessions["vip:s9"]
    assert session == {
        "session": "vip:s9",
        "room_id": "vip",
        "started": session["started"],
        "last_event": session["last_event"],
        "attendees": 3,
        "participants": 2,
        "buyers": 2,
        "interactions": 3,
        "purchases": 2,
        "participation_rate": 0.6667,
        "conversion_rate": 0.6667,
        "currency": "EUR",
        "revenue": "120.00",
        "cost": None,
        "roi": None,
    }
    priced = await reports.set_cost("vip:s9", Decimal("80"))
    assert priced is not None and (priced["cost"], priced["roi"]) == ("80.00", 0.5)
    timeline = priced["timeline"]
    assert sum(t["interactions"] for t in timeline) == 3
    assert sum(t["purchases"] for t in timeline) == 2 and sum(t["joins"] for t in timeline) == 3
    funnel = await reports.funnel(room_invites=["cy"])
    assert funnel == {
        "invited": 3,  # dee and eve by invite events, cy on a room's invite list
        "invited_joined": 2,  # cy and dee joined a room
        "invite_join_rate": 0.6667,
        "hook_visitors": 2,
        "hook_members": 1,  # dee is a member, v1 is not (yet)
        "hook_member_rate": 0.5,
    }
    health = await reports.health(clock.now)
    week = health["last_7_days"]
    assert (health["members"], week["active_members"], week["active_share"]) == (4, 4, 1.0)
    assert (week["interactions"], week["attendee_minutes"]) == (3, 20.0)
    assert (week["interactions_per_attendee_minute"], week["early_leave_rate"]) == (0.15, 0.3333)
    value = await reports.value()
    assert {k: value[k] for k in ("buyers", "orders", "revenue", "average_order_value")} == {
        "buyers": 2,
        "orders": 2,
        "revenue": "120.00",
        "average_order_value": "60.00",
    }
    tiers = await reports.tiers()
    assert tiers["now"] == {"core": 0, "active": 2, "potential": 2, "silent": 0}
    assert tiers["history"][-1] | {"hour": "-"} == {"hour": "-", **tiers["now"]}


async def test_redoing_a_batchs_aggregates_counts_nothing_twice(redis: Redis) -> None:
    ledger = Ledger(redis, RULES)
    aggregates = Aggregates(redis, RULES)
    await MemberStore(redis).set(MemberId("ann"), Tier.POTENTIAL, pinned=False)
    events = [ev("join", "ann", session="s1"), buy("ann", "o1", "10.00", session="s1")]
    outcome = await ledger.apply(events)
    for _ in range(2):
        await aggregates.write(events, outcome.states, ledger.now())
    stats = await redis.hgetall(keys.session_key("vip:s1", "stats"))
    assert (stats[b"joins"], stats[b"purchases"], stats[b"revenue"]) == (b"1", b"1", b"1000")
    totals = await redis.hgetall(keys.TOTALS)
    assert (totals[b"orders"], totals[b"revenue"], totals[b"members"]) == (b"1", b"1000", b"1")
    # An older projection arriving late changes nothing either.
    [(state, due)] = outcome.states.values()
    older = {state.member_id: (state.__class__(state.member_id, Tier.SILENT, version=1), due)}
    await aggregates.write([], older, ledger.now())
    assert (await redis.hgetall(keys.TOTALS))[b"tier:active"] == b"1"


async def test_an_order_history_import_gives_rfm_and_tiers(redis: Redis) -> None:
    now = now_ms()
    members = parse_members(
        "member_id,name,since\nann,Ann,2023-01-01\nbob,Bob,\ncy,Cy,2020-02-02\n"
    )
    orders = parse_orders(
        "order_id,member_id,amount,currency,ordered_at\n"
        "A1,ann,120.00,EUR,2024-01-10\n"
        "A2,ann,80.00,EUR,2024-02-01\n"
        "B1,bob,15.50,EUR,2023-05-01\n",
        now,
    )
    ledger = Ledger(redis, RULES)
    store = MemberStore(redis)
    result = await write_import(redis, store, ledger, Aggregates(redis, RULES), members, orders)
    assert (result.members, result.orders, result.new_orders) == (3, 3, 3)
    ann, _ = await ledger.read(MemberId("ann"))
    assert (ann.orders, ann.revenue_minor, ann.repurchases) == (2, 20000, 1)
    # Old orders and no activity since: silent. Bob has just become a member, and has
    # bought (long ago): active, never potential ("has never bought"; issue 14).
    assert (await store.get(MemberId("ann"))).tier is Tier.SILENT  # type: ignore[union-attr]
    assert (await store.get(MemberId("bob"))).tier is Tier.ACTIVE  # type: ignore[union-attr]
    again = await write_import(redis, store, ledger, Aggregates(redis, RULES), members, orders)
    assert (again.new_orders, again.tier_changes) == (0, 0)
    reports = Reports(redis, RULES)
    value = await reports.value()
    assert (value["orders"], value["revenue"], value["repurchase_rate"]) == (3, "215.50", 0.5)
    # Decided and counted at once, Cy (no orders, a member since 2020) too.
    assert (await store.get(MemberId("cy"))).tier is Tier.SILENT  # type: ignore[union-attr]
    tiers = (await reports.tiers())["now"]
    assert tiers == {"core": 0, "active": 1, "potential": 0, "silent": 2}
