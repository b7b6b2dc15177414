"""The import contracts of ``[tool.importlinter]`` in pyproject.toml (import-linter).

Today: ``loadtest/`` imports nothing from ``server/`` or ``benchmarks/`` (issue 10, finding
6: the load tester speaks only the wire and REST). A new ``from server... import`` in any
module of ``loadtest/``, even inside a function, breaks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("contract", ["loadtest-wire-only"])
def test_import_contract_is_kept(contract: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    status = lint_imports(
        config_filename=str(ROOT / "pyproject.toml"),
        limit_to_contracts=(contract,),
        no_cache=True,
        no_logo=True,
    )
    assert status == EXIT_STATUS_SUCCESS, f"contract {contract} is broken (see the output above)"
