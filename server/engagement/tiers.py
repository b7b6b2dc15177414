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

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier.value,
            "rule": self.rule,
            "reason": self.reason,
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
    if decided is None:
        missing = [c for c in table[-1][1] if not c.ok]
        decided = (
            Tier.POTENTIAL,
            "potential: not silent, and not active yet"
            + (f" ({_sentence(tuple(missing))})" if missing else ""),
        )
    table.append((Tier.POTENTIAL, (), decided[0] is Tier.POTENTIAL))
    return Verdict(decided[0], decided[0].value, decided[1], tuple(table))


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


def next_review(state: MemberState, rules: Rules, now: int, longest_ms: int) -> int:
    """When time alone could next change ``state``'s tier (at most ``longest_ms`` away)."""
    times = [float(now + longest_ms)]
    if state.is_member and not state.pinned:
        reference = inactive_since(state)
        if rules.silent_after_days > 0 and reference > 0:
            times.append(reference + rules.silent_after_days * DAY_MS + 1)
        verdict = evaluate(state, rules, now)
        rule = {Tier.CORE: rules.core, Tier.ACTIVE: rules.active}.get(verdict.tier)
        if rule is not None and rule.min_score > 0:
            score = score_now(state, rules, now)
            if score > rule.min_score:
                times.append(now + rules.half_life_ms * math.log2(score / rule.min_score) + 1)
        if rule is not None and rule.max_days_since_order > 0 and state.last_order > 0:
            times.append(state.last_order + rule.max_days_since_order * DAY_MS + 1)
    return int(min(t for t in times if t > now))


def rfm(state: MemberState, rules: Rules, now: int) -> dict[str, Any]:
    """Purchase value: recency, frequency, monetary, repurchases, average order, LTV."""
    recency = days_since(state.last_order, now)
    return {
        "currency": rules.currency,
        "recency_days": None if recency is None else round(recency, 1),
        "frequency": state.orders,
        "monetary": money(state.revenue_minor),
        "average_order_value": money(state.aov_minor),
        "ltv": money(state.revenue_minor),
        "repurchases": state.repurchases,
        "repurchase_window_days": rules.repurchase_window_days,
        "repurchased": state.repurchases > 0,
    }
