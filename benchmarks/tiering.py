"""How well the tier rules tier a community with known behaviour, and whether spam buys a
tier: ``python -m benchmarks.tiering``.

It generates a community (``benchmarks.community``), tiers every member from their events
two ways — **lived** (folded day by day, each day at its own time, as the scorer sees
them live) and **imported** (all at once at the end, as a history import does) — and
prints the confusion matrix against the ground truth, per-tier precision and recall on
the clear-cut members, the at-risk flag's hits, the gaming cases, and the backtest of
the predicted purchases (``benchmarks/backtest.py``: AUC and calibration). With
``--redis`` it also imports the community into a Redis of its own through the real
importer (``salon import --events``) and prints the import throughput.

The folding here is the scorer's own pure code (``apply_events``, ``evaluate``): what it
decides is what the scorer would write.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.community import Community, gaming_cases, generate
from server.engagement.events import Event
from server.engagement.members import Tier
from server.engagement.rules import DAY_MS, Rules, load_rules
from server.engagement.scoring import MemberState, Order, apply_events, now_ms
from server.engagement.tiers import Verdict, evaluate
from server.ids import MemberId

TIERS: tuple[Tier, ...] = (Tier.CORE, Tier.ACTIVE, Tier.POTENTIAL, Tier.SILENT)
ACCURACY_TARGET = 0.97
PRECISION_RECALL_TARGET = 0.95


def fold_member(
    member_id: MemberId, events: Iterable[Event], rules: Rules, now: int, lived: bool, since: int
) -> tuple[MemberState, Verdict]:
    """A member's state and verdict at ``now`` from ``events``: lived (a day at a time,
    at that day's end) or imported (all at once, as history)."""
    state = MemberState(member_id, Tier.POTENTIAL, since=since)
    orders: dict[str, Order] = {}
    caps: dict[str, float] = {}
    ordered = sorted(events, key=lambda e: (e.ts_ms, e.id))
    if lived:
        days: dict[int, list[Event]] = defaultdict(list)
        for event in ordered:
            days[event.ts_ms // DAY_MS].append(event)
        for day in sorted(days):
            done = apply_events(state, days[day], rules, (day + 1) * DAY_MS - 1, orders, caps)
            state = done.state
            orders.update((o.order_id, o) for o in done.new_orders)
            caps.update(done.caps)
    else:
        state = apply_events(state, ordered, rules, now, history=True).state
    return state, evaluate(state, rules, now)


@dataclass(slots=True)
class Assessment:
    # (truth, decided) -> members, over the clear-cut members
    confusion: dict[tuple[Tier, Tier], int] = field(default_factory=lambda: defaultdict(int))
    clear: int = 0
    correct: int = 0
    at_risk_truth: int = 0
    at_risk_found: int = 0
    at_risk_false: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.clear if self.clear else 0.0

    def precision(self, tier: Tier) -> float:
        decided = sum(n for (_, d), n in self.confusion.items() if d is tier)
        return self.confusion[(tier, tier)] / decided if decided else 1.0

    def recall(self, tier: Tier) -> float:
        truth = sum(n for (t, _), n in self.confusion.items() if t is tier)
        return self.confusion[(tier, tier)] / truth if truth else 1.0

    def meets_targets(self) -> bool:
        return self.accuracy >= ACCURACY_TARGET and all(
            self.precision(t) >= PRECISION_RECALL_TARGET
            and self.recall(t) >= PRECISION_RECALL_TARGET
            for t in TIERS
        )


def assess(community: Community, rules: Rules, lived: bool) -> Assessment:
    out = Assessment()
    since = community.now_ms - 400 * DAY_MS
    events = community.by_member()
    for member in community.members:
        _, verdict = fold_member(
            member.member_id, events[member.member_id], rules, community.now_ms, lived, since
        )
        if member.at_risk:
            out.at_risk_truth += 1
            out.at_risk_found += bool(verdict.at_risk)
        elif verdict.at_risk and member.clear:
            out.at_risk_false += 1
        if not member.clear:
            continue
        out.clear += 1
        out.confusion[(member.truth, verdict.tier)] += 1
        out.correct += verdict.tier is member.truth
    return out


@dataclass(frozen=True, slots=True)
class GamingResult:
    name: str
    gamer: Tier
    control: Tier
    gamer_score: float
    control_score: float

    @property
    def ok(self) -> bool:
        return TIERS.index(self.gamer) >= TIERS.index(self.control)


def gaming(rules: Rules, seed: int = 14) -> list[GamingResult]:
    """Every spam pattern against its honest twin (lived: spam arrives live)."""
    out = []
    for case in gaming_cases(seed):
        now = max(e.ts_ms for e in case.events + case.control_events) + 1
        since = now - 400 * DAY_MS
        g_state, g = fold_member(case.gamer, case.events, rules, now, True, since)
        c_state, c = fold_member(case.control, case.control_events, rules, now, True, since)
        out.append(GamingResult(case.name, g.tier, c.tier, g_state.score, c_state.score))
    return out


def print_assessment(title: str, a: Assessment) -> None:
    print(f"{title}: {a.correct}/{a.clear} clear-cut members tiered correctly ({a.accuracy:.1%})")
    print("  truth \\ tier " + "".join(f"{t.value:>11}" for t in TIERS))
    for truth in TIERS:
        row = "".join(f"{a.confusion[(truth, t)]:>11}" for t in TIERS)
        print(f"  {truth.value:<12}{row}")
    for t in TIERS:
        print(f"  {t.value:<10} precision {a.precision(t):.1%}  recall {a.recall(t):.1%}")
    print(
        f"  at risk: {a.at_risk_found}/{a.at_risk_truth} lapsing members flagged, "
        f"{a.at_risk_false} others flagged"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiering", description=__doc__)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--rules", type=Path, help="a tier rules file (default: shipped)")
    parser.add_argument(
        "--redis", action="store_true", help="also import it through the real importer"
    )
    parser.add_argument(
        "--export-rfm", type=Path, help="write the backtest's RFM table (bgnbd_baseline.py)"
    )
    args = parser.parse_args(argv)
    rules = load_rules(args.rules)
    t0 = time.perf_counter()
    # Ending now: the import half folds at the real time.
    community = generate(args.members, args.seed, now_ms=now_ms())
    print(
        f"community: {len(community.members):,} members, {len(community.events):,} events "
        f"over {community.days} days (orders over two years), seed {args.seed}, "
        f"generated in {time.perf_counter() - t0:.1f} s; rules {rules.source}"
    )
    ok = True
    for lived in (True, False):
        a = assess(community, rules, lived)
        print_assessment("lived" if lived else "imported", a)
        ok = ok and a.meets_targets()
    print("gaming (each spammer against an honest twin with the same purchases):")
    for g in gaming(rules, args.seed):
        ok = ok and g.ok
        print(
            f"  {'ok  ' if g.ok else 'FAIL'} {g.name:<40} spammer {g.gamer.value:<9} "
            f"(score {g.gamer_score:6.1f})  honest {g.control.value:<9} "
            f"(score {g.control_score:6.1f})"
        )
    from benchmarks.backtest import print_backtest
    from benchmarks.backtest import run as backtest

    result = backtest(community, rules, args.export_rfm)
    print_backtest(result)
    ok = ok and result is not None and result.auc >= 0.75
    if args.redis:
        from benchmarks.tiering_import import import_figures

        ok = import_figures(community) and ok
    print("all targets met" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
