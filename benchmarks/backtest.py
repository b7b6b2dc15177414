"""Time-split backtest of the predicted purchases (``server/engagement/predict.py``) on a
generated community: train on days 0-60 (features at day 30, outcomes in days 31-60),
predict at day 60, check against days 61-90. Prints the AUC of "buys again", the
calibration by bins of predicted probability, and the Brier score.

``--export FILE`` also writes the buyers' RFM at day 60 and their outcome as CSV, the
input of ``benchmarks/bgnbd_baseline.py`` (pymc-marketing's BG/NBD, run where it is
installed) so the two models are compared on the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.community import Community
from server.engagement.events import EventKind, parse_purchase
from server.engagement.predict import Predictor, orders_between
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import Order, order_value
from server.ids import MemberId

BINS = 5


@dataclass(frozen=True, slots=True)
class Backtest:
    buyers: int
    positives: int
    auc: float
    brier: float
    # (mean predicted, observed rate, members) per bin of predicted probability
    calibration: list[tuple[float, float, int]]
    mean_expected: float
    mean_actual: float


def order_logs(community: Community, rules: Rules) -> dict[MemberId, list[tuple[int, int]]]:
    logs: dict[MemberId, list[tuple[int, int]]] = {m.member_id: [] for m in community.members}
    for e in community.events:
        if e.kind is EventKind.PURCHASE:
            p = parse_purchase(e.data)
            value = order_value(Order(p.order_id, e.ts_ms, p.amount_minor, p.currency), rules)
            logs[e.member_id].append((e.ts_ms, -1 if value is None else value))
    return logs


def run(community: Community, rules: Rules, export: Path | None = None) -> Backtest | None:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    end = community.now_ms
    day60 = end - 30 * DAY_MS
    logs = order_logs(community, rules)
    first_seen = end - 400 * DAY_MS
    members = [(logs[m.member_id], first_seen) for m in community.members]
    model = Predictor.fit(members, day60, horizon_days=30)
    if model is None:
        return None
    buyers = [(log, first) for log, first in members if any(ts < day60 for ts, _ in log)]
    predictions = model.predict(buyers, day60)
    actual = [orders_between(log, day60, end) for log, _ in buyers]
    outcome = [1 if n else 0 for n in actual]
    probs = [p.p_alive for p in predictions]
    calibration = []
    for b in range(BINS):
        low, high = b / BINS, (b + 1) / BINS
        idx = [i for i, p in enumerate(probs) if low <= p < high or (b == BINS - 1 and p == 1)]
        if idx:
            calibration.append(
                (
                    sum(probs[i] for i in idx) / len(idx),
                    sum(outcome[i] for i in idx) / len(idx),
                    len(idx),
                )
            )
    if export is not None:
        lines = ["frequency,recency,T,bought"]
        for (log, _), y in zip(buyers, outcome, strict=True):
            times = sorted(ts for ts, _ in log if ts < day60)
            frequency = len(times) - 1
            recency = (times[-1] - times[0]) / DAY_MS
            age = (day60 - times[0]) / DAY_MS
            lines.append(f"{frequency},{recency:.3f},{age:.3f},{y}")
        export.write_text("\n".join(lines) + "\n")
    return Backtest(
        len(buyers),
        sum(outcome),
        float(roc_auc_score(outcome, probs)),
        float(brier_score_loss(outcome, probs)),
        calibration,
        sum(p.expected_orders for p in predictions) / len(predictions),
        sum(actual) / len(actual),
    )


def print_backtest(b: Backtest | None) -> None:
    if b is None:
        print("backtest: not enough buyers to fit a model")
        return
    print(
        f"backtest (train days 0-60, check 61-90): {b.buyers} buyers, {b.positives} bought "
        f"again; AUC {b.auc:.3f}, Brier {b.brier:.3f}; expected orders per buyer "
        f"{b.mean_expected:.2f}, actual {b.mean_actual:.2f}"
    )
    for predicted, observed, n in b.calibration:
        print(f"  predicted {predicted:.2f}  observed {observed:.2f}  ({n} buyers)")
