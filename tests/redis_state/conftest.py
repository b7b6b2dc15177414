"""The interaction and stage suites again with ``rooms.state = "redis"``: every room
session keeps its chat, questions, polls, product, places and stage roles in Redis
(``server/rooms/room_state_redis.py``) instead of the process.

The fixtures ``settings`` and ``serve`` are overridden here, so that the functional
fixtures imported below (a real app, seeded members and rooms, sockets) and the
functional tests re-run in this folder build apps with the Redis room state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.settings import Settings
from tests.functional.conftest import RELAXED, client, connect, make_settings, room, seeded

__all__ = ["client", "connect", "room", "seeded"]  # fixtures, registered by import here
REDIS_STATE = {"rooms.state": "redis"}


@pytest.fixture
def settings(redis_server: EmbeddedRedis, redis: Redis) -> Settings:
    return make_settings(redis_server.url, **REDIS_STATE)


@pytest.fixture
async def serve(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """The functional ``serve`` with the Redis room state."""

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        merged = {**RELAXED, **REDIS_STATE, **overrides}
        return await aiohttp_client(create_app(make_settings(redis_server.url, **merged)))

    return start


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
