"""Pure tier decisions: which tier a member's state earns, why, and when to look again.

``evaluate`` applies the rules in their fixed order — silent (inactive too long), core,
active, else potential — and returns a ``Verdict``: the tier, the rule that decided it,
a sentence for people, and every condition it checked (what ``salon members explain``
shows). Every condition is a threshold that more purchases or interaction can only
meet more easily and that time without activity can only make harder, so more
purchases never lower a tier and time alone never raises one (property-tested).

``next_review`` says when time alone could change the verdict (silence reached, score
decayed under the tier's minimum, last order too long ago); the sweep looks then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules, TierRule
from server.engagement.scoring import MemberState, score_now


@dataclass(frozen=True, slots=True)
class Check:
    """One condition of one tier: what it needs, what the member has, whether it holds."""

    name: str
    need: str
    have: str
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"condition": self.name, "need": self.need, "have": self.have, "ok": self.ok}


@dataclass(frozen=True, slots=True)
class Verdict:
    tier: Tier
    # The rule that decided: a tier name, or "pinned" when an operator set the tier.
    rule: str
    reason: str
    checks: tuple[tuple[Tier, tuple[Check, ...], bool], ...]
    # A valuable member who is overdue or away (``at_risk``): why, or "" when not.
    at_risk: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier.value,
            "rule": self.rule,
            "reason": self.reason,
            "at_risk": bool(self.at_risk),
            "at_risk_reason": self.at_risk,
            "rules": [
                {"tier": t.value, "matched": matched, "conditions": [c.to_json() for c in cs]}
                for t, cs, matched in self.checks
            ],
        }


def money(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def days_since(ts_ms: int, now: int) -> float | None:
    return None if ts_ms <= 0 else max(0.0, (now - ts_ms) / DAY_MS)


def inactive_since(state: MemberState) -> int:
    """The last moment the member did anything (or became a member); 0 if unknown."""
    return max(state.last_active, state.last_order, state.since)


def _num(value: float) -> str:
    return f"{value:.1f}" if value != int(value) else str(int(value))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def silent_checks(state: MemberState, rules: Rules, now: int) -> tuple[Check, ...]:
    if rules.silent_after_days <= 0:
        return ()
    idle = days_since(inactive_since(state), now)
    return (
        Check(
            "days without interaction or purchase",
            f">= {_num(rules.silent_after_days)}",
            "unknown" if idle is None else _num(round(idle, 1)),
            idle is not None and idle >= rules.silent_after_days,
        ),
    )


def _at_least(name: str, need: int, have: int) -> Check:
    """A count the member must reach: ``have >= need``."""
    return Check(name, f">= {need}", str(have), have >= need)


def tier_checks(rule: TierRule, state: MemberState, rules: Rules, now: int) -> tuple[Check, ...]:
    """The conditions of ``rule`` that apply (zero thresholds do not), checked."""
    checks: list[Check] = []
    if rule.min_orders:
        checks.append(_at_least("orders", rule.min_orders, state.orders))
    if rule.min_repurchases:
        within = f"repurchases within {_num(rules.repurchase_window_days)} days"
        checks.append(_at_least(within, rule.min_repurchases, state.repurchases))
    if rule.min_score:
        score = score_now(state, rules, now)
        checks.append(
            Check("score", f">= {_num(rule.min_score)}", f"{score:.1f}", score >= rule.min_score)
        )
    if rule.min_shares:
        checks.append(_at_least("shares and invites", rule.min_shares, state.shares))
    if rule.min_ltv_minor:
        checks.append(
            Check(
                f"lifetime value ({rules.currency})",
                f">= {money(rule.min_ltv_minor)}",
                money(state.revenue_minor),
                state.revenue_minor >= rule.min_ltv_minor,
            )
        )
    if rule.min_orders_in_window or rule.min_value_in_window_minor:
        count, value = state.orders_since(now - int(rules.order_window_ms))
        window = f"within {_num(rules.order_window_days)} days"
        if rule.min_orders_in_window:
            checks.append(_at_least(f"orders {window}", rule.min_orders_in_window, count))
        if rule.min_value_in_window_minor:
            checks.append(
                Check(
                    f"order value {window} ({rules.currency})",
                    f">= {money(rule.min_value_in_window_minor)}",
                    money(value),
                    value >= rule.min_value_in_window_minor,
                )
            )
    if rule.max_days_since_order:
        since = days_since(state.last_order, now)
        checks.append(
            Check(
                "days since last order",
                f"<= {_num(rule.max_days_since_order)}",
                "no order" if since is None else _num(round(since, 1)),
                since is not None and since <= rule.max_days_since_order,
            )
        )
    return tuple(checks)


def is_silent(state: MemberState, rules: Rules, now: int) -> bool:
    """``silent_checks`` all hold (and there is one), without the sentences."""
    if rules.silent_after_days <= 0:
        return False
    idle = days_since(inactive_since(state), now)
    return idle is not None and idle >= rules.silent_after_days


def rule_holds(rule: TierRule, state: MemberState, rules: Rules, now: int) -> bool:
    """Every condition of ``tier_checks`` holds, without the sentences: the scorer decides
    every member it touches, and formatting each check cost it more than the folding."""
    if rule.min_orders and state.orders < rule.min_orders:
        return False
    if rule.min_repurchases and state.repurchases < rule.min_repurchases:
        return False
    if rule.min_score and score_now(state, rules, now) < rule.min_score:
        return False
    if rule.min_shares and state.shares < rule.min_shares:
        return False
    if rule.min_ltv_minor and state.revenue_minor < rule.min_ltv_minor:
        return False
    if rule.min_orders_in_window or rule.min_value_in_window_minor:
        count, value = state.orders_since(now - int(rules.order_window_ms))
        if rule.min_orders_in_window and count < rule.min_orders_in_window:
            return False
        if rule.min_value_in_window_minor and value < rule.min_value_in_window_minor:
            return False
    if rule.max_days_since_order:
        since = days_since(state.last_order, now)
        if since is None or since > rule.max_days_since_order:
            return False
    return True


def decide(state: MemberState, rules: Rules, now: int) -> Tier:
    """``evaluate(state, rules, now).tier``, without the checks and sentences (property-
    tested equal): what the scorer needs for every member, where ``evaluate`` is only
    needed when the tier changes (its reason) or for explaining."""
    if is_silent(state, rules, now):
        return Tier.SILENT
    for rule in (rules.core, rules.active):
        if rule_holds(rule, state, rules, now):
            return rule.tier
    return Tier.ACTIVE if state.orders > 0 else Tier.POTENTIAL


def _sentence(checks: tuple[Check, ...]) -> str:
    return ", ".join(f"{c.name} {c.have} (needs {c.need})" for c in checks)


def evaluate(state: MemberState, rules: Rules, now: int) -> Verdict:
    """The tier ``state`` earns at ``now`` (ignoring any operator pin), and why."""
    silent = silent_checks(state, rules, now)
    is_silent = bool(silent) and all(c.ok for c in silent)
    table: list[tuple[Tier, tuple[Check, ...], bool]] = [(Tier.SILENT, silent, is_silent)]
    decided: tuple[Tier, str] | None = None
    if is_silent:
        decided = (Tier.SILENT, f"silent: {_sentence(silent)}")
    for rule in (rules.core, rules.active):
        checks = tier_checks(rule, state, rules, now)
        matched = not is_silent and all(c.ok for c in checks) and decided is None
        table.append((rule.tier, checks, matched))
        if matched:
            decided = (rule.tier, f"{rule.tier.value}: {_sentence(checks) or 'no conditions'}")
    if decided is None and state.orders > 0:
        # Potential means "has never bought": a buyer who meets no rule is still active.
        missing = [c for c in table[-1][1] if not c.ok]
        decided = (
            Tier.ACTIVE,
            f"active: has bought ({_plural(state.orders, 'order')}), though "
            + (_sentence(tuple(missing)) if missing else "no rule matched"),
        )
    if decided is None:
        missing = [c for c in table[-1][1] if not c.ok]
        decided = (
            Tier.POTENTIAL,
            "potential: not silent, and not active yet"
            + (f" ({_sentence(tuple(missing))})" if missing else ""),
        )
    table.append((Tier.POTENTIAL, (), decided[0] is Tier.POTENTIAL))
    risk = at_risk(state, rules, now) if decided[0] is not Tier.SILENT else ""
    return Verdict(decided[0], decided[0].value, decided[1], tuple(table), risk)


def usual_interval_days(state: MemberState) -> float | None:
    """The member's mean days between orders (None with fewer than two)."""
    times = sorted(ts for ts, _ in state.order_log)
    if len(times) < 2:
        return None
    return (times[-1] - times[0]) / (len(times) - 1) / DAY_MS


def overdue_after_days(state: MemberState, rules: Rules) -> float | None:
    """Days after the last order from which a valuable member is overdue."""
    risk = rules.at_risk
    usual = usual_interval_days(state)
    if risk.overdue_factor <= 0 or usual is None:
        return None
    return max(risk.min_overdue_days, risk.overdue_factor * usual)


def at_risk(state: MemberState, rules: Rules, now: int) -> str:
    """Why a valuable member is at risk of going silent ("" when they are not)."""
    risk = rules.at_risk
    count, _ = state.orders_since(now - int(rules.order_window_ms))
    if risk.min_orders_in_window <= 0 or count < risk.min_orders_in_window:
        return ""
    overdue = overdue_after_days(state, rules)
    since_order = days_since(state.last_order, now)
    if overdue is not None and since_order is not None and since_order > overdue:
        return (
            f"last order {_num(round(since_order, 1))} days ago, usually every "
            f"{_num(round(usual_interval_days(state) or 0, 1))} days"
        )
    idle = days_since(max(state.last_active, state.last_order), now)
    if risk.idle_days > 0 and idle is not None and idle >= risk.idle_days:
        return f"not seen for {_num(round(idle, 1))} days"
    return ""


def pinned_verdict(state: MemberState, rules: Rules, now: int) -> Verdict:
    """An operator's tier stands; the checks still show what scoring would decide."""
    scored = evaluate(state, rules, now)
    tier = state.tier or Tier.SILENT
    return Verdict(
        tier,
        "pinned",
        f"{tier.value}: set by an operator (scoring would say {scored.tier.value})",
        scored.checks,
    )


def next_review(
    state: MemberState, rules: Rules, now: int, longest_ms: int, tier: Tier | None = None
) -> int:
    """When time alone could next change ``state``'s tier (at most ``longest_ms`` away).
    ``tier``: what ``decide`` makes of ``state`` now, when the caller knows it already."""
    times = [float(now + longest_ms)]
    if state.is_member and not state.pinned:
        reference = inactive_since(state)
        if rules.silent_after_days > 0 and reference > 0:
            times.append(reference + rules.silent_after_days * DAY_MS + 1)
        decided = tier if tier is not None else decide(state, rules, now)
        rule = {Tier.CORE: rules.core, Tier.ACTIVE: rules.active}.get(decided)
        if rule is not None and rule.min_score > 0:
            score = score_now(state, rules, now)
            if score > rule.min_score:
                times.append(now + rules.half_life_ms * math.log2(score / rule.min_score) + 1)
        if rule is not None and rule.max_days_since_order > 0 and state.last_order > 0:
            times.append(state.last_order + rule.max_days_since_order * DAY_MS + 1)
        # An order leaving the window may end a windowed condition.
        window = rules.order_window_ms
        times.extend(ts + window + 1 for ts, _ in state.order_log if ts + window >= now)
        # When a valuable member would become at risk (overdue, or away too long).
        risk = rules.at_risk
        count, _ = state.orders_since(now - int(window))
        if risk.min_orders_in_window > 0 and count >= risk.min_orders_in_window:
            overdue = overdue_after_days(state, rules)
            if overdue is not None:
                times.append(state.last_order + overdue * DAY_MS + 1)
            if risk.idle_days > 0:
                seen = max(state.last_active, state.last_order)
                times.append(seen + risk.idle_days * DAY_MS + 1)
    return int(min(t for t in times if t > now))


def rfm(state: MemberState, rules: Rules, now: int) -> dict[str, Any]:
    """Purchase value: recency, frequency, monetary, repurchases, average order, LTV."""
    recency = days_since(state.last_order, now)
    window_orders, window_value = state.orders_since(now - int(rules.order_window_ms))
    return {
        "currency": rules.currency,
        "recency_days": None if recency is None else round(recency, 1),
        "frequency": state.orders,
        "monetary": money(state.revenue_minor),
        "average_order_value": money(state.aov_minor),
        "ltv": money(state.revenue_minor),
        # Orders in a currency without a configured rate: counted, but not in the value.
        "orders_without_rate": state.unvalued_orders,
        "orders_in_window": window_orders,
        "value_in_window": money(window_value),
        "window_days": rules.order_window_days,
        "repurchases": state.repurchases,
        "repurchase_window_days": rules.repurchase_window_days,
        "repurchased": state.repurchases > 0,
    }
