"""Rate limits of the public hook routes: per client address and per hook code, 429
``rate_limited`` with ``Retry-After``, and a refused visit is not counted."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.rooms.store import RoomStore
from tests.functional.conftest import ADMIN_KEY, make_settings
from tests.functional.test_hooks import _caught_up, _link, _ok, _schedule

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
Client = TestClient[Any, Any]


async def _client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    redis: Redis,
    **limits: Any,
) -> Client:
    await ops.create_room(RoomStore(redis), "launch", "Launch", "core,active,potential", 50)
    overrides = {f"consult.{k}": v for k, v in limits.items()}
    client = await aiohttp_client(create_app(make_settings(redis_server.url, **overrides)))
    await _schedule(client, int(time.time() * 1000) + 3_600_000)
    return client


async def _refused(response: Any) -> int:
    assert response.status == 429, await response.text()
    body = await response.json()
    assert body["error"]["code"] == "rate_limited"
    retry = int(response.headers["Retry-After"])
    assert retry >= 1 and body["error"]["retry_after"] == retry
    return retry


async def test_visits_past_the_address_limit_are_refused_and_not_counted(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, seeded: Redis
) -> None:
    client = await _client(aiohttp_client, redis_server, seeded, hook_ip_rate=0.01, hook_ip_burst=4)
    first, second = await _link(client, "public-live", True), await _link(client, "wecom", False)
    for n in range(3):
        await _ok(await client.post(f"/api/hooks/{first}/visit", json={"visitor": f"v-{n}"}))
    # The address's last token, on the other link: the limit is per address, not per link.
    await _ok(await client.post(f"/api/hooks/{second}/visit", json={"visitor": "v-9"}))
    await _refused(await client.post(f"/api/hooks/{first}/visit", json={"visitor": "v-4"}))
    await _refused(await client.post(f"/api/hooks/{second}/visit", json={"visitor": "v-5"}))
    await _refused(await client.get(f"/r/{first}"))  # the page too
    await _refused(await client.get(f"/api/hooks/{first}"))
    await _refused(await client.post(f"/api/hooks/{first}/register", json={"name": "Lin"}))
    # Operators' routes are not limited.
    await _ok(await client.get("/api/hooks", headers=AUTH))

    await _caught_up(client, seeded)
    funnel = await _ok(await client.get("/api/metrics/hooks", headers=AUTH))
    visits = {f["code"]: f["visits"] for f in funnel["links"]}
    assert visits == {first: 3, second: 1}
    assert {f["code"]: f["registrations"] for f in funnel["links"]} == {first: 0, second: 0}


async def test_a_busy_link_is_limited_on_its_own(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, seeded: Redis
) -> None:
    client = await _client(
        aiohttp_client, redis_server, seeded, hook_code_rate=0.01, hook_code_burst=3
    )
    busy, calm = await _link(client, "public-live", True), await _link(client, "wecom", False)
    page = await client.get(f"/r/{busy}")
    assert page.status == 200
    for n in range(2):
        await _ok(await client.post(f"/api/hooks/{busy}/visit", json={"visitor": f"v-{n}"}))
    await _refused(await client.post(f"/api/hooks/{busy}/visit", json={"visitor": "v-3"}))
    # The same address still reaches another link.
    await _ok(await client.post(f"/api/hooks/{calm}/visit", json={"visitor": "v-3"}))
