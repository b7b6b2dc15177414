"""Picks where room sessions keep their state, from ``rooms.state``: this process
(``MemorySessionStates``) or Redis (``RedisSessionStates``)."""

from __future__ import annotations

from server.redis_client import RedisClient
from server.rooms.room_state import SessionStates
from server.rooms.room_state_memory import MemorySessionStates
from server.rooms.room_state_redis import RedisSessionStates
from server.settings import Settings


def session_states(settings: Settings, redis: RedisClient) -> SessionStates:
    if settings.rooms.state == "redis":
        return RedisSessionStates(redis, settings.interactions)
    return MemorySessionStates(settings.interactions)
