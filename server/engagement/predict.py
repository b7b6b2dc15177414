"""Predicted purchases: each member's chance to buy again, and the orders and value to
expect, over the next ``HORIZON_DAYS`` (docs/decisions.md, "Predicted figures").

A maintained library fits the model (scikit-learn's gradient-boosted trees; see the
decision for why not pymc-marketing's BG/NBD here), on the same inputs as BG/NBD —
a member's order history — made into features at a cutoff (``order_features``):

- trained on the members as they were ``HORIZON_DAYS`` ago (features from the orders
  before then) against what they did since (bought at all; how many orders);
- applied to the members as they are now, for the next ``HORIZON_DAYS``.

``p_alive`` is the classifier's probability of at least one order in the horizon;
``expected_orders`` the Poisson regressor's count; ``expected_value`` that count times
the member's average order value shrunk towards everyone's (Gamma-Gamma's idea: a
member with one order is mostly the average). Pure and synchronous: ``fit`` costs
about a second for thousands of members and always runs in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from server.engagement.rules import DAY_MS

HORIZON_DAYS: Final = 90
# Orders of weight given to everyone's average order value in a member's (shrinkage).
PRIOR_ORDERS: Final = 2.0
# Fewer buyers than this, or only one outcome among them: no model, no predictions.
MIN_TRAINING: Final = 30

OrderLog = Sequence[tuple[int, int]]


def order_features(log: OrderLog, first_seen: int, at: int) -> list[float]:
    """What BG/NBD sees of a member at ``at``, plus the value: orders in the last year,
    all orders, days since the last and the first, the mean interval, value per order."""
    before = sorted((ts, v) for ts, v in log if ts < at)
    count = len(before)
    age = max(0.0, (at - first_seen) / DAY_MS) if first_seen else 0.0
    if not before:
        return [0.0, 0.0, 999.0, age, 0.0, 0.0]
    year = sum(1 for ts, _ in before if ts >= at - 365 * DAY_MS)
    last = (at - before[-1][0]) / DAY_MS
    first = (at - before[0][0]) / DAY_MS
    interval = (before[-1][0] - before[0][0]) / DAY_MS / (count - 1) if count > 1 else 0.0
    valued = [v for _, v in before if v >= 0]
    mean = sum(valued) / len(valued) / 100 if valued else 0.0
    return [float(year), float(count), last, max(age, first), interval, mean]


def orders_between(log: OrderLog, start: int, end: int) -> int:
    return sum(1 for ts, _ in log if start <= ts < end)


@dataclass(frozen=True, slots=True)
class Prediction:
    p_alive: float
    expected_orders: float
    expected_value_minor: int

    def to_json(self) -> dict[str, Any]:
        return {
            "horizon_days": HORIZON_DAYS,
            "p_buy_again": round(self.p_alive, 3),
            "expected_orders": round(self.expected_orders, 2),
            "expected_value_minor": self.expected_value_minor,
        }


class Predictor:
    """A fitted model; ``fit`` returns None when the data cannot support one."""

    def __init__(self, classifier: Any, regressor: Any, mean_order_minor: float) -> None:
        self._classifier = classifier
        self._regressor = regressor
        self.mean_order_minor = mean_order_minor

    @classmethod
    def fit(
        cls, members: Sequence[tuple[OrderLog, int]], now: int, horizon_days: int = HORIZON_DAYS
    ) -> Predictor | None:
        """Train on ``members`` (order log, first seen) as they were ``horizon_days``
        before ``now`` against their orders since."""
        cutoff = now - horizon_days * DAY_MS
        rows: list[list[float]] = []
        bought: list[int] = []
        counts: list[int] = []
        values: list[int] = []
        for log, first_seen in members:
            if not any(ts < cutoff for ts, _ in log):
                continue  # the model is about buyers: people who bought before the cutoff
            rows.append(order_features(log, first_seen, cutoff))
            n = orders_between(log, cutoff, now)
            bought.append(1 if n else 0)
            counts.append(n)
            values.extend(v for _, v in log if v >= 0)
        if len(rows) < MIN_TRAINING or len(set(bought)) < 2:
            return None
        # Imported only to fit: scikit-learn adds some 100 MB to the process, which a node
        # without enough order history (a new brand, a test) never needs.
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        classifier = HistGradientBoostingClassifier(max_iter=100, max_depth=3, random_state=0)
        classifier.fit(rows, bought)
        regressor = HistGradientBoostingRegressor(
            loss="poisson", max_iter=100, max_depth=3, random_state=0
        )
        regressor.fit(rows, counts)
        return cls(classifier, regressor, sum(values) / len(values) if values else 0.0)

    def predict(self, members: Sequence[tuple[OrderLog, int]], now: int) -> list[Prediction]:
        """Predictions for ``members`` from ``now`` on (never-buyers get zeros)."""
        rows = [order_features(log, first, now) for log, first in members]
        if not rows:
            return []
        p = self._classifier.predict_proba(rows)[:, 1]
        n = self._regressor.predict(rows)
        out = []
        for (log, _), prob, expected in zip(members, p, n, strict=True):
            valued = [v for _, v in log if v >= 0]
            if not log:
                out.append(Prediction(0.0, 0.0, 0))
                continue
            shrunk = (sum(valued) + PRIOR_ORDERS * self.mean_order_minor) / (
                len(valued) + PRIOR_ORDERS
            )
            out.append(Prediction(float(prob), float(expected), round(float(expected) * shrunk)))
        return out
