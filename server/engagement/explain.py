"""Why a member is where they are: tier, score, RFM figures, the rules checked, history.

Pure: ``explain`` turns what the ledger read into plain JSON data; ``explain_text``
renders that data for ``salon members explain``. For people (issue 14): the points of
the last days by kind with the caps reached, the predicted purchases, the next tier
change time alone would bring and what would prevent it, and history reasons marked as
the figures at the time of that change.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import TOTAL, MemberState, Order, score_now
from server.engagement.tiers import (
    days_since,
    evaluate,
    inactive_since,
    money,
    next_review,
    pinned_verdict,
    rfm,
)

# How far ahead the next change is looked for.
LOOKAHEAD_DAYS: Final = 400
RANK: Final = {Tier.SILENT: 0, Tier.POTENTIAL: 1, Tier.ACTIVE: 2, Tier.CORE: 3}


def _iso(ts_ms: int | None) -> str | None:
    if not ts_ms or ts_ms <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ms // 1000))


def explain(
    state: MemberState,
    name: str,
    orders: list[Order],
    history: list[dict[str, Any]],
    rules: Rules,
    now: int,
    caps: Mapping[str, float] | None = None,
    predicted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything that decides ``state``'s tier, as JSON data. ``caps`` are the points
    earned per ``day:kind`` (the ledger's cap records), ``predicted`` the member's
    predicted purchases (``forecast.read_prediction``)."""
    verdict = pinned_verdict(state, rules, now) if state.pinned else evaluate(state, rules, now)
    idle = days_since(inactive_since(state), now)
    return {
        "member_id": state.member_id,
        "name": name,
        "is_member": state.is_member,
        "tier": state.tier.value if state.tier else None,
        "mode": "pinned" if state.pinned else "auto",
        "tier_since": _iso(state.tier_at),
        "tier_reason": state.reason,
        "verdict": verdict.to_json(),
        "score": round(score_now(state, rules, now), 3),
        "half_life_days": rules.half_life_days,
        "rfm": rfm(state, rules, now),
        "activity": {
            "last_active": _iso(state.last_active),
            "days_inactive": None if idle is None else round(idle, 1),
            "interactions": state.interactions,
            "watch_minutes": round(state.watch_seconds / 60, 1),
            "shares_and_invites": state.shares,
            "member_since": _iso(state.since),
        },
        "orders": [
            {
                "order_id": o.order_id,
                "at": _iso(o.ts_ms),
                "amount": money(o.amount_minor),
                "currency": o.currency,
            }
            for o in sorted(orders, key=lambda o: o.ts_ms, reverse=True)[:10]
        ],
        "points_by_kind": points_by_kind(caps or {}, rules, now),
        "predicted": predicted,
        "at_risk": verdict.at_risk or None,
        "next_change": None if state.pinned else next_change(state, rules, now),
        "history": [
            {
                **entry,
                "at": _iso(entry.get("at")) if isinstance(entry.get("at"), int) else None,
                # The reason's figures are as they were then, not now.
                "figures_at_the_time": True,
            }
            for entry in history
        ],
        "rules_file": rules.source,
    }


def points_by_kind(caps: Mapping[str, float], rules: Rules, now: int) -> list[dict[str, Any]]:
    """Points earned per kind over the last seven UTC days (what the cap records keep),
    most first, with the days on which the kind's cap (or the daily total) was reached."""
    since = time.strftime("%Y%m%d", time.gmtime((now - 6 * DAY_MS) // 1000))
    points: dict[str, float] = defaultdict(float)
    capped: dict[str, list[str]] = defaultdict(list)
    for key, value in caps.items():
        day, _, kind = key.partition(":")
        if day < since:
            continue
        points[kind] += value
        cap = rules.daily_total_cap if kind == TOTAL else rules.daily_cap.get(kind, 0.0)
        if cap > 0 and value >= cap - 1e-9:
            capped[kind].append(f"{day[:4]}-{day[4:6]}-{day[6:]}")
    return [
        {"kind": kind, "points": round(total, 2), "cap_reached_on": sorted(capped[kind])}
        for kind, total in sorted(points.items(), key=lambda kv: -kv[1])
    ]


def next_change(state: MemberState, rules: Rules, now: int) -> dict[str, Any] | None:
    """The next change time alone brings (tier, or the at-risk flag), when, and what
    would prevent it; None when nothing changes within ``LOOKAHEAD_DAYS``."""
    if not state.is_member:
        return None
    current = evaluate(state, rules, now)
    at = now
    for _ in range(20):
        at = next_review(state, rules, at, LOOKAHEAD_DAYS * DAY_MS)
        if at - now >= LOOKAHEAD_DAYS * DAY_MS:
            return None
        later = evaluate(state, rules, at)
        if later.tier is not current.tier:
            down = RANK[later.tier] < RANK[current.tier]
            return {
                "at": _iso(at),
                "to": later.tier.value,
                "reason": later.reason,
                "prevented_by": _prevention(later.tier, rules) if down else None,
            }
        if bool(later.at_risk) != bool(current.at_risk) and later.at_risk:
            return {
                "at": _iso(at),
                "to": "at_risk",
                "reason": later.at_risk,
                "prevented_by": "a purchase or joining a session",
            }
    return None


def _prevention(tier: Tier, rules: Rules) -> str:
    if tier is Tier.SILENT:
        return "any interaction or purchase"
    return "a purchase" + (" or taking part in sessions" if rules.core.min_score else "")


def explain_text(data: dict[str, Any]) -> str:
    """``explain``'s data as a few lines for a terminal."""
    if not data["is_member"]:
        head = f"{data['member_id']}: not a member (scoring state only)"
    else:
        mode = "set by an operator" if data["mode"] == "pinned" else "decided by scoring"
        head = f"{data['member_id']} ({data['name']}): {data['tier']}, {mode}"
    r, a = data["rfm"], data["activity"]
    recency = "never" if r["recency_days"] is None else f"{r['recency_days']} days ago"
    idle = "never" if a["days_inactive"] is None else f"{a['days_inactive']} days ago"
    lines = [
        head,
        f"  why:        {data['verdict']['reason']}",
        f"  score:      {data['score']} (halves every {data['half_life_days']:g} days)",
        f"  purchases:  {r['frequency']} orders, LTV {r['ltv']} {r['currency']}, average "
        f"{r['average_order_value']}, last {recency}, {r['repurchases']} repurchases "
        f"within {r['repurchase_window_days']:g} days",
        f"  activity:   last {idle}, {a['interactions']} interactions, "
        f"{a['watch_minutes']} minutes watched, {a['shares_and_invites']} shares and invites",
        "  rules (first match wins):",
    ]
    for rule in data["verdict"]["rules"]:
        mark = "<- this one" if rule["matched"] else ""
        conditions = "; ".join(
            f"{c['condition']} {c['have']} (needs {c['need']}) {'ok' if c['ok'] else 'no'}"
            for c in rule["conditions"]
        )
        lines.append(f"    {rule['tier']:<10}{conditions or 'everyone else'} {mark}".rstrip())
    if data.get("points_by_kind"):
        parts = []
        for item in data["points_by_kind"]:
            capped = item["cap_reached_on"]
            note = f" (cap reached {len(capped)} day{'s' if len(capped) != 1 else ''})"
            parts.append(f"{item['kind']} {item['points']}{note if capped else ''}")
        lines.append(f"  points, last 7 days: {'; '.join(parts)}")
    if data.get("at_risk"):
        lines.append(f"  AT RISK:    {data['at_risk']}")
    if data.get("predicted"):
        p = data["predicted"]
        lines.append(
            f"  predicted:  {p['p_buy_again']:.0%} chance to buy within {p['horizon_days']} "
            f"days; {p['expected_orders']} orders, "
            f"{money(p['expected_value_minor'])} {r['currency']} expected"
        )
    change = data.get("next_change")
    if change:
        unless = f" unless {change['prevented_by']}" if change.get("prevented_by") else ""
        lines.append(f"  next:       {change['to']} on {change['at'][:10]}{unless}")
    if data["history"]:
        lines.append("  history (newest first; figures as they were then):")
        for entry in data["history"][:10]:
            lines.append(
                f"    {entry.get('at') or '?'}  {entry.get('from') or '-'} -> {entry.get('to')}"
                f"  {entry.get('reason', '')}"
            )
    return "\n".join(lines)
