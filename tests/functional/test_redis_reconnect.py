"""Redis restarts are transparent to the gate; a Redis that is really gone keeps it shut."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import Restartable, Socket, make_settings, token


async def seed_room(url: str) -> None:
    client = Redis.from_url(url)
    try:
        await ops.set_member(MemberStore(client), "cora", "core", "Cora")
        await ops.create_room(RoomStore(client), "vip", "VIP lounge", "core")
    finally:
        await client.aclose()


async def test_first_join_after_a_redis_restart_is_admitted(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], own_redis: Restartable
) -> None:
    """Regression (issue 9, defect 5): the first join after Redis restarted was refused
    ``unavailable``: the gate's pooled connections were stale and nothing retried them."""
    server = await own_redis.up()
    await seed_room(server.url)
    client = await aiohttp_client(create_app(make_settings(server.url)))
    first = Socket(await client.ws_connect("/ws"))
    assert (await first.join(token("cora")))["type"] == "joined"  # the pool is warm
    await first.ws.close()
    await own_redis.down()
    server = await own_redis.up()  # same port, empty: seed it again
    await seed_room(server.url)
    again = Socket(await client.ws_connect("/ws"))
    reply = await again.join(token("cora"))
    assert reply["type"] == "joined", reply


async def test_a_redis_that_stays_down_still_refuses_after_the_retry(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], own_redis: Restartable
) -> None:
    """The retry is once, on a fresh connection: with Redis gone the gate stays shut."""
    server = await own_redis.up()
    await seed_room(server.url)
    settings = make_settings(server.url, **{"redis.timeout": 0.5})
    client = await aiohttp_client(create_app(settings))
    first = Socket(await client.ws_connect("/ws"))
    assert (await first.join(token("cora")))["type"] == "joined"
    await first.ws.close()
    await own_redis.down()
    again = Socket(await client.ws_connect("/ws"))
    reply = await again.join(token("cora"))
    assert reply["code"] == "unavailable"
    assert await again.closed_with() == 4403
