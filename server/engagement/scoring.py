"""Pure scoring: what one member's events do to that member's state. No I/O.

This module owns ``MemberState`` (the scorer's view of one member: score, activity,
orders) and ``apply_events``, which folds events into it:

- **Points** per event from the rules (``base_points``); only member actions earn any.
- **Daily caps** per kind and UTC day of the event: once a kind has earned its cap
  today, more of it earns nothing (``caps`` holds what each day and kind has earned).
  A capped kind's points are credited at the start of their UTC day: a day earns
  ``min(cap, sum)`` whichever of its events came first, so arrival order cannot matter.
- **Decay**: the score halves every ``half_life_days``. It is stored as a value at a
  moment (``score``, ``score_at``); exponential decay is linear, so events may arrive in
  any order and still add up to the same score.
- **Orders**: a purchase counts once per order id, whatever the event id; orders feed
  frequency, monetary value (in the rules' currency), recency and repurchases.

Exactly-once by event id is the caller's business (``ledger.py`` filters ids already
applied); here, every event given is applied.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from server.engagement.events import (
    Event,
    EventKind,
    PurchaseError,
    is_member_action,
    is_scored_action,
    number,
    parse_purchase,
)
from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules
from server.ids import MemberId

# How long an applied event id is remembered; older events are refused (purchases
# excepted: their order id keeps them from counting twice, however old).
APPLIED_RETENTION_MS: Final = 30 * DAY_MS
# Daily cap records older than this many days are dropped.
CAP_DAYS_KEPT: Final = 8
# Kinds that count as interactions (community health), when they are scored actions.
INTERACTION_KINDS: Final = frozenset(
    {
        EventKind.CHAT,
        EventKind.REACTION,
        EventKind.QUESTION,
        EventKind.UPVOTE,
        EventKind.POLL_VOTE,
        EventKind.HAND_RAISE,
        EventKind.PRODUCT_CLICK,
        EventKind.SHARE,
        EventKind.INVITE,
    }
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    ts_ms: int
    amount_minor: int
    currency: str

    def encode(self) -> str:
        return f"{self.ts_ms} {self.amount_minor} {self.currency}"

    @classmethod
    def decode(cls, order_id: str, text: str) -> Order | None:
        parts = text.split()
        if len(parts) != 3:
            return None
        try:
            return cls(order_id, int(parts[0]), int(parts[1]), parts[2])
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class MemberState:
    """One member as the scorer sees it. ``tier`` is None when there is no member record:
    events still build up state (a visitor who clicked a hook link), but no tier."""

    member_id: MemberId
    tier: Tier | None = None
    # An operator's tier is kept until they hand the member over to scoring ("auto").
    pinned: bool = False
    version: int = 0
    score: float = 0.0
    score_at: int = 0
    since: int = 0
    last_active: int = 0
    orders: int = 0
    revenue_minor: int = 0
    first_order: int = 0
    last_order: int = 0
    repurchases: int = 0
    shares: int = 0
    interactions: int = 0
    watch_seconds: float = 0.0
    # Why the tier is what it is (the rule's sentence) and since when.
    reason: str = ""
    tier_at: int = 0

    @property
    def is_member(self) -> bool:
        return self.tier is not None

    @property
    def aov_minor(self) -> int:
        return self.revenue_minor // self.orders if self.orders else 0


@dataclass(slots=True)
class Applied:
    """The outcome of ``apply_events``: the new state and what to write with it."""

    state: MemberState
    applied: list[Event] = field(default_factory=list)
    too_old: list[Event] = field(default_factory=list)
    new_orders: list[Order] = field(default_factory=list)
    # Cap fields changed (``day:kind`` → points earned that day) and fields to drop.
    caps: dict[str, float] = field(default_factory=dict)
    caps_dropped: list[str] = field(default_factory=list)


def decay_factor(elapsed_ms: float, rules: Rules) -> float:
    """How much of a score is left after ``elapsed_ms`` (1 for no or negative time)."""
    if elapsed_ms <= 0:
        return 1.0
    return math.pow(0.5, elapsed_ms / rules.half_life_ms)


def score_now(state: MemberState, rules: Rules, at_ms: int) -> float:
    """The member's engagement score decayed to ``at_ms``."""
    return state.score * decay_factor(at_ms - state.score_at, rules)


def base_points(event: Event, rules: Rules) -> float:
    """Points ``event`` is worth before the daily cap (0 for staff and non-scoring actions)."""
    if not is_scored_action(event):
        return 0.0
    if event.kind is EventKind.LEAVE:
        return _minutes(event, "watch_seconds") * rules.point("watch_minute")
    if event.kind is EventKind.STAGE_SECONDS:
        return _minutes(event, "seconds") * rules.point("stage_minute")
    if event.kind is EventKind.EXTERNAL:
        action = event.data.get("action")
        return rules.point(action) if isinstance(action, str) else 0.0
    return rules.point(event.kind.value)


def _minutes(event: Event, key: str) -> float:
    seconds = number(event.data, key)
    return seconds / 60.0 if seconds is not None and seconds > 0 else 0.0


def utc_day(ts_ms: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(max(ts_ms, 0) // 1000))


def cap_field(event: Event) -> str:
    return f"{utc_day(event.ts_ms)}:{event.kind.value}"


def count_repurchases(times: Iterable[int], window_ms: float) -> int:
    """Orders placed within ``window_ms`` of the member's previous order."""
    ordered = sorted(times)
    return sum(1 for a, b in itertools.pairwise(ordered) if b - a <= window_ms)


def apply_events(
    state: MemberState,
    events: Iterable[Event],
    rules: Rules,
    now: int,
    orders: Mapping[str, Order] | None = None,
    caps: Mapping[str, float] | None = None,
) -> Applied:
    """Fold ``events`` into ``state``. ``orders`` are the member's known orders (needed
    when a purchase is among the events), ``caps`` the points earned per ``day:kind``."""
    known = dict(orders or {})
    earned = dict(caps or {})
    out = Applied(state)
    s = state
    cutoff = now - APPLIED_RETENTION_MS
    bought = False
    for event in sorted(events, key=lambda e: (e.ts_ms, e.id)):
        if event.ts_ms < cutoff and event.kind is not EventKind.PURCHASE:
            out.too_old.append(event)
            continue
        out.applied.append(event)
        if not is_member_action(event):
            continue
        if event.kind is EventKind.PURCHASE:
            order = _order(event)
            if order is None or order.order_id in known:
                continue  # a broken or repeated order report earns nothing
            known[order.order_id] = order
            out.new_orders.append(order)
            bought = True
            s = _add_order(s, order, rules)
        points = base_points(event, rules)
        cap = rules.cap(event.kind)
        credited_at = event.ts_ms
        if cap > 0 and points > 0:
            key = cap_field(event)
            used = earned.get(key, 0.0)
            points = max(0.0, min(points, cap - used))
            earned[key] = used + points
            out.caps[key] = earned[key]
            credited_at = event.ts_ms - event.ts_ms % DAY_MS
        s = _add_points(s, points, credited_at, rules)
        s = _count(s, event)
    if bought:
        times = [o.ts_ms for o in known.values()]
        s = replace(s, repurchases=count_repurchases(times, rules.repurchase_window_ms))
    out.caps_dropped = [k for k in earned if k[:8] < utc_day(now - CAP_DAYS_KEPT * DAY_MS)]
    out.state = s
    return out


def _order(event: Event) -> Order | None:
    try:
        purchase = parse_purchase(event.data)
    except PurchaseError:
        return None
    return Order(purchase.order_id, event.ts_ms, purchase.amount_minor, purchase.currency)


def _add_order(s: MemberState, order: Order, rules: Rules) -> MemberState:
    revenue = s.revenue_minor + (order.amount_minor if order.currency == rules.currency else 0)
    return replace(
        s,
        orders=s.orders + 1,
        revenue_minor=revenue,
        first_order=min(s.first_order, order.ts_ms) if s.first_order else order.ts_ms,
        last_order=max(s.last_order, order.ts_ms),
    )


def _add_points(s: MemberState, points: float, at: int, rules: Rules) -> MemberState:
    """Add ``points`` earned at ``at``; the stored moment moves forward, never back."""
    if points <= 0:
        return s
    if at >= s.score_at:
        return replace(
            s, score=s.score * decay_factor(at - s.score_at, rules) + points, score_at=at
        )
    return replace(s, score=s.score + points * decay_factor(s.score_at - at, rules))


def _count(s: MemberState, event: Event) -> MemberState:
    shares = s.shares + (1 if event.kind in (EventKind.SHARE, EventKind.INVITE) else 0)
    scored = is_scored_action(event)
    interactions = s.interactions + (1 if scored and event.kind in INTERACTION_KINDS else 0)
    watched = s.watch_seconds
    if event.kind is EventKind.LEAVE:
        watched += max(0.0, number(event.data, "watch_seconds") or 0.0)
    return replace(
        s,
        shares=shares,
        interactions=interactions,
        watch_seconds=watched,
        last_active=max(s.last_active, event.ts_ms),
    )
