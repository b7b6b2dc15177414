"""Imports go one way: server/signaling -> server/rooms -> server/engagement (issue 10)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


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
