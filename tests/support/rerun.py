"""Folders that re-run other test modules under another set-up (the Redis Cluster, the
Redis room state) leave out the tests that are about the set-up they replace: those run
in their home module, once, and are not collected again here (deselected, not skipped)."""

from __future__ import annotations

import pytest


def leave_out(
    config: pytest.Config, items: list[pytest.Item], folder: str, names: set[str]
) -> None:
    """Deselect the tests named ``names`` collected under ``folder``."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        name = getattr(item, "originalname", item.name)
        inside = f"{folder}/" in item.path.as_posix()
        (dropped if inside and name in names else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
