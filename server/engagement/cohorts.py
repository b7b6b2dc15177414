"""The dashboard's member-level reports (issue 14): score distribution per tier, cohorts
by join month (retention, potential -> buyer conversion, time to second purchase) and
time to second purchase overall.

Read on request from every member record (``MEMBER_INDEX_KEY``, pipelined a chunk at a
time, no per-member round trip) and computed in plain Python: a community of Salon's
size (thousands to tens of thousands of members) costs a fraction of a second, and the
figures are exact at the moment of asking rather than kept in step by the scorer.
``cohort_figures`` is pure; ``CohortReport`` reads Redis.

Definitions (docs/decisions.md, "Dashboard cohorts (issue 14)"):

- a member's **score** is their decayed score now; **buckets** count scores in
  ``[SCORE_EDGES[i], SCORE_EDGES[i+1])``, the last one open;
- a **cohort** is the UTC month of the member's ``since`` date (join); **retained** means
  active (any event) within the last ``RETAINED_DAYS`` days; **converted** means they
  have bought at least once (a buyer is never "potential");
- **time to second purchase** runs from a member's first order to their second, in days;
  members whose order log no longer holds their first orders are left out (``measured``).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

from server.engagement.members import MEMBER_INDEX_KEY, TIER_NAMES, member_key
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import MemberState, score_now
from server.engagement.state_codec import state_from_hash, text
from server.ids import MemberId
from server.redis_client import RedisClient

SCORE_EDGES: Final = (0, 1, 5, 10, 25, 50, 100)
RETAINED_DAYS: Final = 30
# Days from the first order to the second: at most this many (the last bucket is open).
SECOND_EDGES: Final = (7, 30, 90, 365)
CHUNK: Final = 500


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p25": None, "median": None, "p75": None, "max": None}
    ordered = sorted(values)
    if len(ordered) == 1:
        q = [ordered[0]] * 3
    else:
        q = statistics.quantiles(ordered, n=4, method="inclusive")
    return {
        "p25": round(q[0], 2),
        "median": round(q[1], 2),
        "p75": round(q[2], 2),
        "max": round(ordered[-1], 2),
    }


def _bucket(value: float, edges: Iterable[float]) -> int:
    """Index of the bucket ``value`` falls in: the last edge at or below it."""
    index = 0
    for i, edge in enumerate(edges):
        if value >= edge:
            index = i
    return index


def days_to_second(state: MemberState) -> float | None:
    """Days from the member's first order to their second, or None (fewer than two
    orders, or the log no longer reaches back to the first)."""
    if state.orders < 2 or len(state.order_log) < state.orders:
        return None
    first, second = sorted(ts for ts, _value in state.order_log)[:2]
    return (second - first) / DAY_MS


def month_of(ts_ms: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts_ms // 1000)) if ts_ms > 0 else "unknown"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _second_purchase(states: list[MemberState]) -> dict[str, Any]:
    days = [d for s in states if (d := days_to_second(s)) is not None]
    counts = [0] * (len(SECOND_EDGES) + 1)
    for d in days:
        index = next((i for i, edge in enumerate(SECOND_EDGES) if d <= edge), len(SECOND_EDGES))
        counts[index] += 1
    buyers = sum(1 for s in states if s.orders > 0)
    repeat = sum(1 for s in states if s.orders > 1)
    return {
        "buyers": buyers,
        "repeat_buyers": repeat,
        "repeat_rate": _rate(repeat, buyers),
        "measured": len(days),
        "median_days": _median(days),
        "within_days": list(SECOND_EDGES),
        "counts": counts,
    }


def cohort_figures(states: Iterable[MemberState], rules: Rules, now: int) -> dict[str, Any]:
    """Every figure of the report from the members' states (members only: a record
    without a tier is a visitor)."""
    members = [s for s in states if s.is_member]
    by_tier: dict[str, list[float]] = {name: [] for name in TIER_NAMES}
    for state in members:
        assert state.tier is not None
        by_tier[state.tier.value].append(score_now(state, rules, now))
    scores = {}
    for name, values in by_tier.items():
        buckets = [0] * len(SCORE_EDGES)
        for value in values:
            buckets[_bucket(value, SCORE_EDGES)] += 1
        scores[name] = {"members": len(values), **_quantiles(values), "buckets": buckets}
    cohorts: dict[str, list[MemberState]] = defaultdict(list)
    for state in members:
        cohorts[month_of(state.since)].append(state)
    since = now - RETAINED_DAYS * DAY_MS
    rows = []
    for month in sorted(cohorts):
        group = cohorts[month]
        retained = sum(1 for s in group if s.last_active >= since)
        buyers = sum(1 for s in group if s.orders > 0)
        seconds = [d for s in group if (d := days_to_second(s)) is not None]
        rows.append(
            {
                "month": month,
                "members": len(group),
                "retained": retained,
                "retention": _rate(retained, len(group)),
                "buyers": buyers,
                "conversion": _rate(buyers, len(group)),
                "repeat_buyers": sum(1 for s in group if s.orders > 1),
                "median_days_to_second": _median(seconds),
            }
        )
    return {
        "members": len(members),
        "score_edges": list(SCORE_EDGES),
        "score_by_tier": scores,
        "retained_days": RETAINED_DAYS,
        "cohorts": rows,
        "second_purchase": _second_purchase(members),
    }


class CohortReport:
    """Reads every member record and computes ``cohort_figures``."""

    def __init__(self, redis: RedisClient, rules: Rules) -> None:
        self._redis = redis
        self._rules = rules

    async def states(self) -> list[MemberState]:
        ids = sorted(text(m) for m in await self._redis.smembers(MEMBER_INDEX_KEY))
        out: list[MemberState] = []
        for start in range(0, len(ids), CHUNK):
            chunk = [MemberId(m) for m in ids[start : start + CHUNK]]
            async with self._redis.pipeline(transaction=False) as pipe:
                for member_id in chunk:
                    pipe.hgetall(member_key(member_id))
                raws = await pipe.execute()
            out.extend(state_from_hash(m, raw) for m, raw in zip(chunk, raws, strict=True))
        return out

    async def report(self, now: int) -> dict[str, Any]:
        return cohort_figures(await self.states(), self._rules, now)
