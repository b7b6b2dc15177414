"""Pure tier rules: the rules file, the decisions, their monotonicity, the next review."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.engagement.events import SCHEMA_VERSION, Event, EventKind, purchase_data
from server.engagement.explain import explain, explain_text
from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules, RulesError, TierRule, load_rules, parse_rules
from server.engagement.scoring import MemberState, Order, apply_events
from server.engagement.tiers import (
    decide,
    evaluate,
    next_review,
    pinned_verdict,
    rfm,
    rule_holds,
    tier_checks,
)
from server.ids import MemberId

# The pre-issue-14 rules: fixed figures for the mechanics (new defaults: test_value.py).
RULES = load_rules(Path(__file__).with_name("classic_tiers.toml"))
NOW = 1_750_000_000_000
RANK = {Tier.SILENT: 0, Tier.POTENTIAL: 1, Tier.ACTIVE: 2, Tier.CORE: 3}
_ids = itertools.count()


def state(**fields: Any) -> MemberState:
    base: dict[str, Any] = {"tier": Tier.POTENTIAL, "since": NOW - DAY_MS}
    base.update(fields)
    return MemberState(MemberId("m"), **base)


def event(kind: str, ts: int, **data: Any) -> Event:
    return Event(f"t{next(_ids)}", SCHEMA_VERSION, EventKind(kind), "r", MemberId("m"), ts, data)


def purchase(ts: int, amount: str = "80.00") -> Event:
    return event("purchase", ts, **purchase_data(f"o{next(_ids)}", amount, "EUR"))


# --- the rules file -------------------------------------------------------------------


def test_the_shipped_rules_are_the_design_defaults() -> None:
    assert RULES.currency == "EUR" and RULES.half_life_days == 30
    assert RULES.silent_after_days == 60
    assert (RULES.core.min_orders, RULES.core.min_repurchases, RULES.core.min_score) == (2, 1, 100)
    assert (RULES.active.min_orders, RULES.active.min_score) == (1, 5)
    assert RULES.daily_cap["reaction"] == 2.0 and RULES.points["purchase"] == 10.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency = 'euro'", "currency 'euro' must be an ISO 4217 code"),
        ("half_life_days = 0", "half_life_days must be above 0"),
        ("colour = 'red'", "unknown key 'colour' in the top level"),
        ("[points]\nreactoin = 1", "unknown key 'reactoin' in \\[points\\]"),
        ("[points]\njoin = -1", "points.join must be a finite number of at least 0"),
        ("[points]\njoin = 'lots'", "points.join must be a number"),
        ("[daily_cap]\nwatch_minute = 3", "unknown key 'watch_minute' in \\[daily_cap\\]"),
        ("[tiers.gold]\nmin_orders = 1", "unknown key 'gold' in \\[tiers\\]"),
        ("[tiers.core]\nmin_order = 1", "unknown key 'min_order' in \\[tiers.core\\]"),
        ("[tiers.core]\nmin_orders = 1.5", "min_orders must be a whole number"),
        ("[tiers.core]\nmin_ltv = 'ten'", "min_ltv 'ten' is not a decimal amount"),
        ("[tiers.potential]\nmin_score = 1", "it has no conditions"),
        ("points = 3", "points must be a table"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_key_named(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=message):
        load_rules(path)


def test_an_unreadable_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read tier rules"):
        load_rules(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[points")
    with pytest.raises(RulesError, match="cannot read tier rules"):
        load_rules(tmp_path / "bad.toml")


def test_a_rules_file_is_complete_on_its_own() -> None:
    rules = parse_rules({"tiers": {"active": {"min_ltv": "25.50"}}})
    assert rules.points == {} and rules.silent_after_days == 0
    assert rules.active.min_ltv_minor == 2550 and rules.core == TierRule(Tier.CORE)


# --- decisions --------------------------------------------------------------------------


def test_a_new_member_is_potential() -> None:
    verdict = evaluate(state(), RULES, NOW)
    assert (verdict.tier, verdict.rule) == (Tier.POTENTIAL, "potential")
    assert "orders 0 (needs >= 1)" in verdict.reason


def test_silence_for_n_days_makes_a_member_silent() -> None:
    assert evaluate(state(last_active=NOW - 59 * DAY_MS), RULES, NOW).tier is Tier.POTENTIAL
    verdict = evaluate(state(last_active=NOW - 61 * DAY_MS, since=0), RULES, NOW)
    assert verdict.tier is Tier.SILENT
    assert verdict.reason == "silent: days without interaction or purchase 61 (needs >= 60)"
    # A recent purchase is activity too, and so is becoming a member.
    assert evaluate(state(last_order=NOW - DAY_MS, since=0), RULES, NOW).tier is Tier.POTENTIAL
    assert evaluate(state(since=NOW - 61 * DAY_MS), RULES, NOW).tier is Tier.SILENT


def test_a_buyer_who_interacts_is_active_and_a_repeat_buyer_who_shares_is_core() -> None:
    active = state(orders=1, score=6.0, score_at=NOW, last_active=NOW)
    assert evaluate(active, RULES, NOW).tier is Tier.ACTIVE
    core = state(orders=2, repurchases=1, shares=1, score=150.0, score_at=NOW, last_active=NOW)
    verdict = evaluate(core, RULES, NOW)
    assert verdict.tier is Tier.CORE
    assert verdict.reason.startswith("core: orders 2 (needs >= 2), repurchases within 90 days 1")
    # Without a repurchase within the window, the same member is active.
    assert evaluate(replace(core, repurchases=0), RULES, NOW).tier is Tier.ACTIVE


def test_a_pinned_tier_stands_and_says_what_scoring_would_decide() -> None:
    verdict = pinned_verdict(state(tier=Tier.CORE, pinned=True), RULES, NOW)
    assert (verdict.tier, verdict.rule) == (Tier.CORE, "pinned")
    assert "scoring would say potential" in verdict.reason


def test_rfm_figures() -> None:
    figures = rfm(
        state(
            orders=3,
            valued_orders=3,
            revenue_minor=15000,
            last_order=NOW - 2 * DAY_MS,
            repurchases=1,
            order_log=(
                (NOW - 400 * DAY_MS, 5000),
                (NOW - 9 * DAY_MS, 5000),
                (NOW - 2 * DAY_MS, 5000),
            ),
        ),
        RULES,
        NOW,
    )
    assert figures == {
        "currency": "EUR",
        "recency_days": 2.0,
        "frequency": 3,
        "monetary": "150.00",
        "average_order_value": "50.00",
        "ltv": "150.00",
        "repurchases": 1,
        "repurchase_window_days": 90.0,
        "repurchased": True,
        "orders_without_rate": 0,
        "orders_in_window": 2,
        "value_in_window": "100.00",
        "window_days": 365.0,
    }


def test_explain_shows_every_rule_and_the_history() -> None:
    s = state(
        orders=1, revenue_minor=4990, score=18.0, score_at=NOW, last_active=NOW, last_order=NOW
    )
    history = [{"from": "potential", "to": "active", "reason": "active: …", "at": NOW}]
    data = explain(s, "Pia", [Order("o1", NOW, 4990, "EUR")], history, RULES, NOW)
    assert data["verdict"]["tier"] == "active" and data["mode"] == "auto"
    assert [r["tier"] for r in data["verdict"]["rules"]] == [
        "silent",
        "core",
        "active",
        "potential",
    ]
    assert [r["matched"] for r in data["verdict"]["rules"]] == [False, False, True, False]
    assert data["orders"] == [
        {"order_id": "o1", "at": "2025-06-15T15:06:40Z", "amount": "49.90", "currency": "EUR"}
    ]
    text = explain_text(data)
    assert "m (Pia): potential, decided by scoring" in text
    assert "active    orders 1 (needs >= 1) ok; score 18.0 (needs >= 5) ok <- this one" in text
    assert "potential -> active" in text


# --- properties -----------------------------------------------------------------------

rule_sets = st.builds(
    lambda core_orders, core_score, core_rep, active_score, active_days, silent: parse_rules(
        {
            "points": {"join": 1.0, "chat": 1.0, "purchase": 10.0, "watch_minute": 1.0},
            "daily_cap": {"chat": 5.0},
            "tiers": {
                "silent": {"inactive_days": silent},
                "core": {
                    "min_orders": core_orders,
                    "min_score": core_score,
                    "min_repurchases": core_rep,
                    "min_ltv": "100",
                },
                "active": {
                    "min_orders": 1,
                    "min_score": active_score,
                    "max_days_since_order": active_days,
                },
            },
        }
    ),
    st.integers(1, 4),
    st.floats(0, 200),
    st.integers(0, 2),
    st.floats(0, 30),
    st.sampled_from([0, 90, 365]),
    st.sampled_from([0, 30, 60]),
)
histories = st.lists(
    st.tuples(
        st.sampled_from(["join", "chat", "leave", "purchase"]),
        st.integers(0, 400 * DAY_MS),
        st.integers(1, 50_000),
    ),
    max_size=25,
)


def _history(items: list[tuple[str, int, int]]) -> list[Event]:
    out = []
    for kind, ago, amount in items:
        ts = NOW - ago
        if kind == "purchase":
            out.append(purchase(ts, f"{amount / 100:.2f}"))
        elif kind == "leave":
            out.append(event("leave", ts, watch_seconds=amount % 3600))
        else:
            out.append(event(kind, ts))
    return out


def _fold(rules: Rules, events: list[Event], start: MemberState | None = None) -> MemberState:
    begin = start or MemberState(MemberId("m"), Tier.POTENTIAL, since=NOW - 500 * DAY_MS)
    return apply_events(begin, events, rules, NOW).state


@settings(max_examples=300, deadline=None)
@given(
    rules=rule_sets,
    past=histories,
    extra=st.lists(
        st.tuples(st.integers(0, 400 * DAY_MS), st.integers(1, 50_000)), min_size=1, max_size=5
    ),
)
def test_more_purchases_never_lower_a_tier(
    rules: Rules, past: list[tuple[str, int, int]], extra: list[tuple[int, int]]
) -> None:
    before = _fold(rules, _history(past))
    after = _fold(
        rules, _history(past) + [purchase(NOW - ago, f"{a / 100:.2f}") for ago, a in extra]
    )
    assert RANK[evaluate(after, rules, NOW).tier] >= RANK[evaluate(before, rules, NOW).tier]


@settings(max_examples=300, deadline=None)
@given(
    rules=rule_sets,
    past=histories,
    wait=st.integers(0, 500 * DAY_MS),
    later=st.integers(0, 500 * DAY_MS),
)
def test_time_without_activity_never_raises_a_tier(
    rules: Rules, past: list[tuple[str, int, int]], wait: int, later: int
) -> None:
    member = _fold(rules, _history(past))
    first, second = NOW + wait, NOW + wait + later
    assert RANK[evaluate(member, rules, second).tier] <= RANK[evaluate(member, rules, first).tier]


@settings(max_examples=300, deadline=None)
@given(rules=rule_sets, past=histories, fraction=st.floats(0, 1, exclude_max=True))
def test_nothing_changes_before_the_next_review(
    rules: Rules, past: list[tuple[str, int, int]], fraction: float
) -> None:
    """The sweep may sleep until ``next_review``: the tier cannot change before then."""
    member = _fold(rules, _history(past))
    tier = evaluate(member, rules, NOW).tier
    member = replace(member, tier=tier)
    due = next_review(member, rules, NOW, 30 * DAY_MS)
    assume(due - NOW > 2)
    moment = NOW + int((due - NOW - 2) * fraction)
    assert evaluate(member, rules, moment).tier is tier


def test_the_next_review_is_when_silence_or_decay_would_change_the_tier() -> None:
    quiet = state(last_active=NOW - 10 * DAY_MS, since=0)
    assert next_review(quiet, RULES, NOW, 90 * DAY_MS) == NOW + 50 * DAY_MS + 1
    assert next_review(quiet, RULES, NOW, 30 * DAY_MS) == NOW + 30 * DAY_MS
    fading = state(tier=Tier.ACTIVE, orders=1, score=10.0, score_at=NOW, last_active=NOW, since=0)
    # 10 points fall under active's 5 after one half-life; silence comes later.
    assert next_review(fading, RULES, NOW, 90 * DAY_MS) == NOW + 30 * DAY_MS + 1
    assert next_review(state(pinned=True), RULES, NOW, 7 * DAY_MS) == NOW + 7 * DAY_MS


@settings(max_examples=400, deadline=None)
@given(
    # The shipped rules too: they have the windowed conditions and at-risk.
    rules=st.one_of(rule_sets, st.just(load_rules())),
    past=histories,
    at=st.integers(-30 * DAY_MS, 500 * DAY_MS),
    ltv=st.integers(0, 3),
    shares=st.integers(0, 3),
)
def test_decide_is_what_evaluate_decides(
    rules: Rules, past: list[tuple[str, int, int]], at: int, ltv: int, shares: int
) -> None:
    """The scorer decides tiers with ``decide`` (no sentences) and builds ``evaluate``'s
    verdict only on a change: both must agree on every state, rule set and moment, or a
    member would be left in a tier that ``explain`` says they do not earn."""
    member = replace(_fold(rules, _history(past)), shares=shares)
    member = replace(member, revenue_minor=member.revenue_minor * ltv)
    moment = NOW + at
    assert decide(member, rules, moment) is evaluate(member, rules, moment).tier
    for rule in (rules.core, rules.active):
        checks = tier_checks(rule, member, rules, moment)
        assert rule_holds(rule, member, rules, moment) == all(c.ok for c in checks)
