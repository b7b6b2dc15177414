"""Pure scoring: points, daily caps, decay, orders and RFM (no I/O)."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.engagement.events import SCHEMA_VERSION, Event, EventKind, purchase_data
from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules, load_rules
from server.engagement.scoring import (
    APPLIED_RETENTION_MS,
    MemberState,
    Order,
    apply_events,
    base_points,
    count_repurchases,
    decay_factor,
    score_now,
)
from server.ids import MemberId

# The pre-issue-14 rules: fixed figures for the mechanics (new defaults: test_value.py).
RULES = load_rules(Path(__file__).with_name("classic_tiers.toml"))
NOW = 1_750_000_000_000  # a fixed "now" (June 2025), at 15:06 UTC
MEMBER = MemberId("m")
_ids = itertools.count()


def ev(kind: str, ts: int = NOW, member: str = "m", room: str = "r", **data: Any) -> Event:
    return Event(
        f"e{next(_ids)}", SCHEMA_VERSION, EventKind(kind), room, MemberId(member), ts, data
    )


def buy(order: str, amount: str = "10.00", ts: int = NOW, currency: str = "EUR") -> Event:
    return ev("purchase", ts, **purchase_data(order, amount, currency))


def fold(events: list[Event], state: MemberState | None = None, **kw: Any) -> MemberState:
    return apply_events(
        state or MemberState(MEMBER, Tier.POTENTIAL), events, RULES, NOW, **kw
    ).state


# --- points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "points"),
    [
        (ev("join"), 1.0),
        (ev("chat", action="send"), 1.0),
        (ev("chat"), 1.0),  # no action: the kind's main one
        (ev("reaction", emoji="x"), 0.2),
        (ev("question", action="ask"), 3.0),
        (ev("upvote", action="add"), 0.5),
        (ev("poll_vote", action="vote"), 1.0),
        (ev("product_click", action="click"), 1.0),
        (ev("share"), 5.0),
        (ev("invite", invitee="x"), 5.0),
        (ev("leave", watch_seconds=90), 1.5),
        (ev("stage_seconds", seconds=30), 1.0),
        (ev("external", action="group_joined"), 10.0),
        (ev("external", action="hook_click"), 0.0),
        (buy("o1"), 10.0),
    ],
)
def test_points_per_kind(event: Event, points: float) -> None:
    assert base_points(event, RULES) == pytest.approx(points)


@pytest.mark.parametrize(
    "event",
    [
        ev("chat", action="delete"),
        ev("poll_vote", action="change"),
        ev("poll_vote", action="create"),
        ev("upvote", action="remove"),
        ev("product_click", action="pin"),
        ev("question", action="answer"),
        ev("join", role="host"),
        ev("chat", action="send", role="cohost"),
        ev("leave", watch_seconds=-60),
        ev("leave", watch_seconds="60"),
        ev("leave", watch_seconds=float("nan")),
        ev("leave"),
        ev("external", action="dance"),
        ev("external"),
        ev("stage_invite", by="host"),
        ev("mute", by="host", muted=True),
    ],
)
def test_staff_work_and_non_scoring_actions_earn_nothing(event: Event) -> None:
    assert base_points(event, RULES) == 0.0


def test_staff_events_change_nothing_but_are_applied() -> None:
    """A host's events, and what a host does to a member, are deduplicated like any
    other and move nothing: not the score, not the member's last activity."""
    events = [ev("join", role="host"), ev("remove", by="host"), ev("mute", by="m", muted=True)]
    done = apply_events(MemberState(MEMBER), events, RULES, NOW)
    assert len(done.applied) == 3
    # Muting oneself is one's own doing: activity, though worth no points.
    assert done.state == MemberState(MEMBER, last_active=NOW)


# --- daily caps ---------------------------------------------------------------------


def test_a_kind_stops_earning_at_its_daily_cap() -> None:
    reactions = [ev("reaction", NOW - 1000 + i, emoji="x") for i in range(100)]
    done = apply_events(MemberState(MEMBER), reactions, RULES, NOW)
    assert done.state.score == pytest.approx(2.0)  # 100 x 0.2 = 20, capped at 2
    assert done.state.interactions == 100  # they still count as interactions
    assert done.caps == {f"{_day(NOW)}:reaction": pytest.approx(2.0)}


def test_the_cap_carries_over_between_batches_and_resets_the_next_day() -> None:
    first = apply_events(
        MemberState(MEMBER), [ev("join", NOW - 5 + i) for i in range(3)], RULES, NOW
    )
    second = apply_events(
        first.state, [ev("join", NOW - 1) for _ in range(5)], RULES, NOW, caps=first.caps
    )
    assert second.state.score == pytest.approx(5.0, rel=1e-6)  # the join cap is 5 a day
    tomorrow = NOW + DAY_MS
    third = apply_events(
        second.state, [ev("join", tomorrow)], RULES, tomorrow, caps={**first.caps, **second.caps}
    )
    assert third.state.score == pytest.approx(5.0 * decay_factor(DAY_MS, RULES) + 1.0)


def test_old_cap_records_are_dropped() -> None:
    done = apply_events(MemberState(MEMBER), [ev("join")], RULES, NOW, caps={"20240101:join": 5.0})
    assert done.caps_dropped == ["20240101:join"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["join", "chat", "reaction", "question", "upvote", "share"]),
            st.integers(min_value=0, max_value=3 * DAY_MS),
        ),
        max_size=80,
    )
)
def test_no_kind_ever_earns_more_than_its_cap_in_a_day(items: list[tuple[str, int]]) -> None:
    events = [ev(kind, NOW - offset) for kind, offset in items]
    done = apply_events(MemberState(MEMBER), events, RULES, NOW)
    for key, earned in done.caps.items():
        assert earned <= RULES.daily_cap[key.split(":")[1]] + 1e-9


# --- decay --------------------------------------------------------------------------


def test_the_score_halves_every_half_life() -> None:
    state = fold([buy("o1", ts=NOW - 30 * DAY_MS)])  # a purchase: 10 points, no cap
    assert score_now(state, RULES, NOW) == pytest.approx(5.0)
    assert score_now(state, RULES, NOW + 30 * DAY_MS) == pytest.approx(2.5)
    # A moment before the points were earned, there is no growth.
    assert score_now(state, RULES, NOW - 31 * DAY_MS) == pytest.approx(10.0)


def test_capped_points_count_from_the_start_of_their_day() -> None:
    """Whichever of a day's capped events arrives first, the day earns the same."""
    late = NOW - NOW % DAY_MS + DAY_MS - 1
    state = fold([ev("share", late)], MemberState(MEMBER, Tier.POTENTIAL))
    assert state.score_at == NOW - NOW % DAY_MS


@settings(max_examples=50, deadline=None)  # a busy machine takes 300 ms for one
@given(st.randoms(use_true_random=False))
def test_events_in_any_order_add_up_to_the_same_score(rnd: random.Random) -> None:
    events = [ev("question", NOW - rnd.randrange(20 * DAY_MS)) for _ in range(12)]
    events += [ev("leave", NOW - rnd.randrange(20 * DAY_MS), watch_seconds=600) for _ in range(5)]
    forward = fold(events)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    # One event at a time, in a random order, as separate batches would apply them.
    state = MemberState(MEMBER, Tier.POTENTIAL)
    caps: dict[str, float] = {}
    for event in shuffled:
        done = apply_events(state, [event], RULES, NOW, caps=caps)
        state = done.state
        caps.update(done.caps)
    assert score_now(state, RULES, NOW) == pytest.approx(score_now(forward, RULES, NOW))


# --- orders and RFM -----------------------------------------------------------------


def test_an_order_counts_once_however_often_it_is_reported() -> None:
    done = apply_events(MemberState(MEMBER), [buy("o1", "49.90"), buy("o1", "49.90")], RULES, NOW)
    state = done.state
    assert (state.orders, state.revenue_minor, len(done.new_orders)) == (1, 4990, 1)
    assert state.score == pytest.approx(10.0)
    again = apply_events(state, [buy("o1")], RULES, NOW, orders={"o1": done.new_orders[0]})
    assert again.state == state and again.new_orders == []


def test_orders_in_another_currency_count_at_the_configured_rate() -> None:
    """Regression (issue 14): an order in USD counted 0 in revenue but 1 in the AOV's
    denominator, and explain showed LTV 0.00 for a member who bought in USD."""
    events = [buy("o1", "100.00"), buy("o2", "300.00", currency="USD")]
    state = apply_events(MemberState(MEMBER, Tier.POTENTIAL), events, load_rules(), NOW).state
    # 300.00 USD at 0.92 = 276.00 EUR.
    assert (state.orders, state.valued_orders, state.revenue_minor) == (2, 2, 37600)
    assert state.aov_minor == 18800


def test_an_order_in_a_currency_without_a_rate_counts_but_not_in_the_average() -> None:
    """Regression (issue 14): AOV 156.24 instead of 159.28 — unvalued orders were in
    the denominator with 0 in the revenue."""
    state = fold([buy("o1", "100.00"), buy("o2", "300.00", currency="SEK")])
    assert (state.orders, state.valued_orders, state.unvalued_orders) == (2, 1, 1)
    assert (state.revenue_minor, state.aov_minor) == (10000, 10000)


def test_average_order_value_rounds_to_the_nearest_cent() -> None:
    """Regression (issue 14): LTV and AOV were floored to the cent."""
    state = fold([buy("o1", "10.00"), buy("o2", "10.01"), buy("o3", "10.01")])
    assert state.aov_minor == 1001  # 3002 / 3 = 1000.67 -> 10.01, not 10.00


def test_broken_purchase_data_earns_nothing() -> None:
    broken = ev("purchase", order_id="o1", amount=12.5, currency="EUR")
    done = apply_events(MemberState(MEMBER), [broken], RULES, NOW)
    assert done.applied == [broken] and done.state.orders == 0 and done.state.score == 0


def test_repurchases_are_orders_within_the_window_of_the_previous_one() -> None:
    window = 90 * DAY_MS
    assert count_repurchases([], window) == 0
    assert count_repurchases([0, 10 * DAY_MS, 200 * DAY_MS], window) == 1
    assert count_repurchases([170 * DAY_MS, 0, 90 * DAY_MS], window) == 2
    state = fold([buy("a", ts=NOW - 100 * DAY_MS), buy("b", ts=NOW - 5 * DAY_MS)])
    assert state.repurchases == 0
    state = fold([buy("c", ts=NOW - 50 * DAY_MS)], state, orders=_orders(state, "a", "b"))
    assert state.repurchases == 2  # c follows a within 90 days, b follows c


def _orders(state: MemberState, *ids: str) -> dict[str, Order]:
    # The two orders folded into ``state`` above, as the ledger would read them back.
    stamps = [NOW - 100 * DAY_MS, NOW - 5 * DAY_MS]
    return {i: Order(i, t, 1000, "EUR") for i, t in zip(ids, stamps, strict=True)}


def test_old_events_are_refused_but_old_purchases_count() -> None:
    old = NOW - APPLIED_RETENTION_MS - 1
    done = apply_events(MemberState(MEMBER), [ev("join", old), buy("o1", ts=old)], RULES, NOW)
    assert [e.kind for e in done.too_old] == [EventKind.JOIN]
    assert done.state.orders == 1 and done.state.last_order == old


def test_activity_and_counters() -> None:
    state = fold(
        [
            ev("join", NOW - 3000),
            ev("chat", NOW - 2000, action="send"),
            ev("chat", NOW - 1500, action="delete"),
            ev("invite", NOW - 1000, invitee="friend"),
            ev("leave", NOW - 500, watch_seconds=125.5),
        ]
    )
    assert state.last_active == NOW - 500
    assert (state.interactions, state.shares, state.watch_seconds) == (2, 1, 125.5)


def _day(ts: int) -> str:
    from server.engagement.scoring import utc_day

    return utc_day(ts)


def test_rules_object_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES.half_life_days = 1.0  # type: ignore[misc]
    assert isinstance(RULES, Rules)
