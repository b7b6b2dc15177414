"""The interaction and stage suites again with ``rooms.state = "redis"``: every room
session keeps its chat, questions, polls, product, places and stage roles in Redis
(``server/rooms/room_state_redis.py``) instead of the process.

The functional fixtures are imported below (a real app, seeded members and rooms,
sockets); ``app_overrides`` is overridden here, so that every app they build, and every
app of the functional tests re-run in this folder, has the Redis room state.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import client, connect, room, seeded, serve, settings
from tests.support.rerun import leave_out

__all__ = ["client", "connect", "room", "seeded", "serve", "settings"]  # fixtures


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"rooms.state": "redis"}


# Functional tests re-run here that build their own app (so their room state is the
# default one): they run in their home module only (tests/support/rerun.py).
OWN_APP = {
    "test_removals_still_arrive_after_redis_restarts": "builds its app on its own redis-server",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    leave_out(config, items, "tests/redis_state", set(OWN_APP))
