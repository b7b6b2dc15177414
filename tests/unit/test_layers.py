"""Imports go one way (issue 10): the contracts of ``[tool.importlinter]`` in
pyproject.toml (import-linter), and the stricter rules it cannot say.

``server-layers``: server/signaling -> server/rooms -> server/engagement, no arrow back.
``media-only-from-rooms``, ``media-is-a-leaf``: server/media is used by server/rooms alone
(the in-process benchmarks aside) and imports no other layer.
``loadtest-wire-only``: ``loadtest/`` imports nothing from ``server/`` or ``benchmarks/``
(issue 10, finding 6: the load tester speaks only the wire and REST). A new ``from
server... import`` in any module of ``loadtest/``, even inside a function, breaks it.

``lint-imports`` runs in a child process: in this one its logging set-up would disable
every logger that exists already, and later tests that read logs (caplog) would see none.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_TIMEOUT = 60
SERVER = ROOT / "server"


@pytest.mark.parametrize(
    "contract",
    [
        "server-layers",
        "media-only-from-rooms",
        "media-is-a-leaf",
        "loadtest-wire-only",
        "rtcseams-is-a-leaf",
    ],
)
def test_import_contract_is_kept(contract: str) -> None:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    command += ["--contract", contract]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=LINT_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def imported(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((SERVER / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        found[path.name] = names
    return found


def test_signaling_imports_nothing_from_engagement() -> None:
    """Regression (issue 10, finding 5): signaling picked EventKinds and read MemberStore."""
    leaks = {
        name: sorted(m for m in modules if m.startswith("server.engagement"))
        for name, modules in imported("signaling").items()
    }
    assert {name: mods for name, mods in leaks.items() if mods} == {}


def test_rooms_import_nothing_from_signaling_or_the_edges() -> None:
    """Regression (issue 10, finding 1): room session state lived in signaling, and the
    purchases edge imported signaling to reach it."""
    back = {
        name: sorted(m for m in modules if m.startswith(("server.signaling", "server.http")))
        for name, modules in imported("rooms").items()
    }
    assert {name: mods for name, mods in back.items() if mods} == {}
    commerce = imported("http")["commerce.py"]
    assert not any(m.startswith("server.signaling") for m in commerce)
