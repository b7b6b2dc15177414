"""The BG/NBD baseline of the backtest, with pymc-marketing's CLV module.

Not part of Salon's dependencies (pymc-marketing pulls in PyMC and PyTensor, and its fit
took minutes here: docs/decisions.md). Run it where pymc-marketing is installed, on the
table ``python -m benchmarks.tiering --export-rfm rfm.csv`` wrote::

    python benchmarks/bgnbd_baseline.py rfm.csv

It fits BG/NBD (maximum a posteriori) on the buyers' frequency, recency and age at day
60 and prints the AUC of its probability of a purchase in the next 30 days against
what they did, the figure the backtest compares Salon's model with.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from pymc_marketing import clv
from sklearn.metrics import brier_score_loss, roc_auc_score


def main(path: str) -> None:
    table = pd.read_csv(path)
    data = table[["frequency", "recency", "T"]].copy()
    data.insert(0, "customer_id", np.arange(len(data)))
    start = time.perf_counter()
    model = clv.BetaGeoModel(data=data)
    model.fit(method="map")
    fitted = time.perf_counter() - start
    # P(at least one purchase in 30 days) = 1 - P(0 purchases in 30 days).
    p0 = model.expected_probability_no_purchase(t=30, data=data)
    p = 1 - np.asarray(p0).reshape(-1)
    y = table["bought"].to_numpy()
    print(
        f"BG/NBD (pymc-marketing, MAP): {len(y)} buyers, AUC {roc_auc_score(y, p):.3f}, "
        f"Brier {brier_score_loss(y, p):.3f}; fit {fitted:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1])
