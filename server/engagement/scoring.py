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

import functools
import itertools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from server.engagement.events import (
    SCORED_ACTIONS,
    STAFF_ROLES,
    Event,
    EventKind,
    PurchaseError,
    action_of,
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
# Orders kept in ``MemberState.order_log`` (the windowed figures count these).
ORDER_LOG_KEPT: Final = 64
# The cap field suffix of a day's total over every kind.
TOTAL: Final = "total"
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
    # Lifetime value in the rules' currency (minor units), orders converted at the
    # configured rates; ``valued_orders`` is how many orders it counts (the others were
    # in a currency without a rate, and say so in explain).
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
    valued_orders: int = 0
    # The newest orders as (time, value in minor units of the rules' currency, -1 when
    # unknown), oldest first: the windowed order counts and values are read from it.
    order_log: tuple[tuple[int, int], ...] = ()
    # Flagged at risk at the last decision (``tiers.at_risk``): the at-risk list.
    at_risk: bool = False

    @property
    def is_member(self) -> bool:
        return self.tier is not None

    @property
    def aov_minor(self) -> int:
        """Average order value over the orders whose value is known, to the nearest cent."""
        return rounded(self.revenue_minor, self.valued_orders)

    @property
    def unvalued_orders(self) -> int:
        return self.orders - self.valued_orders

    def orders_since(self, since_ms: int) -> tuple[int, int]:
        """(orders, value in minor units) placed at or after ``since_ms``."""
        recent = [v for ts, v in self.order_log if ts >= since_ms]
        return len(recent), sum(v for v in recent if v > 0)


def rounded(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest whole number, halves up (0 for none)."""
    if denominator <= 0:
        return 0
    return int((Decimal(numerator) / denominator).quantize(Decimal(1), ROUND_HALF_UP))


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


def base_points(event: Event, rules: Rules, scored: bool | None = None) -> float:
    """Points ``event`` is worth before the daily cap (0 for staff and non-scoring actions).
    ``scored``: ``is_scored_action(event)`` when the caller knows it already."""
    if not (is_scored_action(event) if scored is None else scored):
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
    return _day_name(max(ts_ms, 0) // DAY_MS)


@functools.lru_cache(maxsize=1024)
def _day_name(day: int) -> str:
    # Every event needs its day's name: formatting it once per day, not per event.
    return time.strftime("%Y%m%d", time.gmtime(day * DAY_MS // 1000))


def cap_field(event: Event) -> str:
    return f"{utc_day(event.ts_ms)}:{event.kind.value}"


def cap_fields(events: Iterable[Event]) -> list[str]:
    """The cap records folding ``events`` reads: per day and kind, and per day in total."""
    fields = set()
    for event in events:
        day = utc_day(event.ts_ms)
        fields.add(f"{day}:{event.kind.value}")
        fields.add(f"{day}:{TOTAL}")
    return sorted(fields)


def order_value(order: Order, rules: Rules) -> int | None:
    """The order's amount in minor units of the rules' currency (None: no rate for it)."""
    rate = rules.rate(order.currency)
    if rate is None:
        return None
    if rate == 1:
        return order.amount_minor
    return int((order.amount_minor * rate).quantize(Decimal(1), ROUND_HALF_UP))


def purchase_points(value_minor: int | None, rules: Rules) -> float:
    """A new order's points: a flat part plus a part that grows with its value."""
    flat = rules.point("purchase")
    if value_minor is None:
        return flat
    return flat + rules.purchase_points_per_unit * value_minor / 100


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
    history: bool = False,
) -> Applied:
    """Fold ``events`` into ``state``. ``orders`` are the member's known orders (needed
    when a purchase is among the events), ``caps`` the points earned per ``day:kind``
    and ``day:total``. ``history``: events of any age are applied (an import); otherwise
    events older than the applied-id window are refused (purchases excepted).

    One kind's points in a day are capped (``daily_cap``), then every kind's together
    (``daily_cap.total``); a purchase's points are not capped, so value always counts.
    """
    known = dict(orders or {})
    earned = dict(caps or {})
    out = Applied(state)
    # Mutable copies of the state's counters: one ``replace`` at the end, not per event.
    score, score_at = state.score, state.score_at
    last_active, shares, interactions = state.last_active, state.shares, state.interactions
    watched = state.watch_seconds
    n_orders, revenue, valued = state.orders, state.revenue_minor, state.valued_orders
    first, last = state.first_order, state.last_order
    log = list(state.order_log)
    cutoff = now - APPLIED_RETENTION_MS
    total_cap = rules.daily_total_cap
    bought = False
    half_life = rules.half_life_ms
    # Per kind, looked up once per call rather than per event (Enum.value is a property).
    caps_of: dict[EventKind, float] = {}
    for event in sorted(events, key=_event_order):
        kind = event.kind
        ts = event.ts_ms
        if ts < cutoff and kind is not EventKind.PURCHASE and not history:
            out.too_old.append(event)
            continue
        out.applied.append(event)
        # ``is_member_action`` and ``is_scored_action``, reading ``data`` once.
        data = event.data
        if data.get("role") in STAFF_ROLES:
            continue
        by = data.get("by")
        if by is not None and by != event.member_id:
            continue
        actions = SCORED_ACTIONS.get(kind)
        scored = actions is None or action_of(event) in actions
        credited_at = ts
        if kind is EventKind.PURCHASE:
            order = _order(event)
            if order is None or order.order_id in known:
                continue  # a broken or repeated order report earns nothing
            known[order.order_id] = order
            out.new_orders.append(order)
            bought = True
            value = order_value(order, rules)
            n_orders += 1
            if value is not None:
                valued += 1
                revenue += value
            first = min(first, order.ts_ms) if first else order.ts_ms
            last = max(last, order.ts_ms)
            log.append((order.ts_ms, -1 if value is None else value))
            points = purchase_points(value, rules)
        else:
            points = base_points(event, rules, scored)
            if points > 0:
                cap = caps_of.get(kind)
                if cap is None:
                    cap = caps_of[kind] = rules.cap(kind)
                if cap > 0 or total_cap > 0:
                    day = utc_day(ts)
                    if cap > 0:
                        points = _within_cap(earned, out.caps, f"{day}:{kind._value_}", points, cap)
                    if total_cap > 0 and points > 0:
                        points = _within_cap(earned, out.caps, f"{day}:{TOTAL}", points, total_cap)
                    credited_at = ts - ts % DAY_MS
        if points > 0:
            # Decay is linear: the stored moment moves forward, never back.
            if credited_at >= score_at:
                score = score * math.pow(0.5, (credited_at - score_at) / half_life) + points
                score_at = credited_at
            else:
                score += points * math.pow(0.5, (score_at - credited_at) / half_life)
        if kind is EventKind.SHARE or kind is EventKind.INVITE:
            shares += 1
        if scored and kind in INTERACTION_KINDS:
            interactions += 1
        if kind is EventKind.LEAVE:
            watched += max(0.0, number(data, "watch_seconds") or 0.0)
        if ts > last_active:
            last_active = ts
    s = replace(
        state,
        score=score,
        score_at=score_at,
        last_active=last_active,
        shares=shares,
        interactions=interactions,
        watch_seconds=watched,
        orders=n_orders,
        revenue_minor=revenue,
        valued_orders=valued,
        first_order=first,
        last_order=last,
    )
    if bought:
        times = [o.ts_ms for o in known.values()]
        log.sort()
        s = replace(
            s,
            repurchases=count_repurchases(times, rules.repurchase_window_ms),
            order_log=tuple(log[-ORDER_LOG_KEPT:]),
        )
    oldest = utc_day(now - CAP_DAYS_KEPT * DAY_MS)
    # A history import keeps the records of the days it touched: a later call with more
    # of those days' events must not find the day's caps empty.
    touched = {k for k in out.caps} if history else set()
    out.caps_dropped = [k for k in earned if k[:8] < oldest and k not in touched]
    out.state = s
    return out


def _event_order(event: Event) -> tuple[int, str]:
    return (event.ts_ms, event.id)


def _within_cap(
    earned: dict[str, float], changed: dict[str, float], key: str, points: float, cap: float
) -> float:
    """What is left of ``points`` under ``cap`` given what ``key`` earned already."""
    used = earned.get(key, 0.0)
    points = max(0.0, min(points, cap - used))
    earned[key] = changed[key] = used + points
    return points


def _order(event: Event) -> Order | None:
    try:
        purchase = parse_purchase(event.data)
    except PurchaseError:
        return None
    return Order(purchase.order_id, event.ts_ms, purchase.amount_minor, purchase.currency)
