"""Why a member is where they are: tier, score, RFM figures, the rules checked, history.

Pure: ``explain`` turns what the ledger read into plain JSON data; ``explain_text``
renders that data for ``salon members explain``.
"""

from __future__ import annotations

import time
from typing import Any

from server.engagement.rules import Rules
from server.engagement.scoring import MemberState, Order, score_now
from server.engagement.tiers import days_since, evaluate, inactive_since, money, pinned_verdict, rfm


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
) -> dict[str, Any]:
    """Everything that decides ``state``'s tier, as JSON data."""
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
        "history": [
            {**entry, "at": _iso(entry.get("at")) if isinstance(entry.get("at"), int) else None}
            for entry in history
        ],
        "rules_file": rules.source,
    }


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
    if data["history"]:
        lines.append("  history (newest first):")
        for entry in data["history"][:10]:
            lines.append(
                f"    {entry.get('at') or '?'}  {entry.get('from') or '-'} -> {entry.get('to')}"
                f"  {entry.get('reason', '')}"
            )
    return "\n".join(lines)
