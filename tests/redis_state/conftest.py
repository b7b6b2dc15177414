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

__all__ = ["client", "connect", "room", "seeded", "serve", "settings"]  # fixtures


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"rooms.state": "redis"}


# Functional tests re-run here that build their own app (so their room state is the
# default one): each skip names why (shown by ``pytest -rs``).
OWN_APP = {
    "test_removals_still_arrive_after_redis_restarts": "builds its app on its own redis-server",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = getattr(item, "originalname", item.name)
        if "tests/redis_state/" in str(item.path) and name in OWN_APP:
            item.add_marker(pytest.mark.skip(reason=OWN_APP[name]))
