"""What a serving process holds in memory that it does not need."""

from __future__ import annotations

import subprocess
import sys

FIT_WITHOUT_HISTORY = """
import sys
from server.engagement.predict import Predictor
assert Predictor.fit([], now=0) is None
print("sklearn" in sys.modules)
"""


def test_a_refit_without_enough_history_does_not_load_scikit_learn() -> None:
    """Issue 17 (fuzz RSS): the scorer's first refit, two minutes after start, imported
    scikit-learn before finding too little order history to fit, and the server's RSS grew
    by some 100 MB (``make fuzz`` 90 -> 201 MB). A fresh interpreter: others' imports do
    not count."""
    done = subprocess.run(
        [sys.executable, "-c", FIT_WITHOUT_HISTORY], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False", done.stderr
