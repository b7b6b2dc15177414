"""The import contracts of ``[tool.importlinter]`` in pyproject.toml (import-linter).

Today: ``loadtest/`` imports nothing from ``server/`` or ``benchmarks/`` (issue 10, finding
6: the load tester speaks only the wire and REST). A new ``from server... import`` in any
module of ``loadtest/``, even inside a function, breaks it.

``lint-imports`` runs in a child process: in this one its logging set-up would disable
every logger that exists already, and later tests that read logs (caplog) would see none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_TIMEOUT = 60


@pytest.mark.parametrize("contract", ["loadtest-wire-only"])
def test_import_contract_is_kept(contract: str) -> None:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    command += ["--contract", contract]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=LINT_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout
