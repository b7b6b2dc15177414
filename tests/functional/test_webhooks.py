"""Webhooks out: registration over REST, signed deliveries in order, retries with the
same idempotency id until the receiver recovers, and refusals of bad endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import WEBHOOKS, create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.webhooks import dispatcher
from server.webhooks.store import WebhookStore
from tests.functional.conftest import ADMIN_KEY, make_settings
from tests.functional.webhook_receiver import receiver

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SECRET = "whsec_test_0123456789abcdef"
FAST = {"webhooks.timeout": 0.4, "webhooks.backoff_min": 0.05, "webhooks.backoff_max": 0.2}

Client = TestClient[Any, Any]


async def _server(
    aiohttp_client: Callable[..., Awaitable[Client]], url: str, **overrides: Any
) -> Client:
    return await aiohttp_client(create_app(make_settings(url, **{**FAST, **overrides})))


async def _register(client: Client, url: str, kinds: Any = "*") -> dict[str, Any]:
    response = await client.post(
        "/api/webhooks", json={"url": url, "kinds": kinds, "secret": SECRET}, headers=AUTH
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_receiver_that_fails_and_recovers_sees_every_delivery_once_in_order(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, redis: Redis
) -> None:
    async with receiver(SECRET, script=["500", "500", "hang", "500", "hang"]) as rec:
        client = await _server(aiohttp_client, redis_server.url)
        endpoint = await _register(client, rec.url)
        outbox = client.server.app[WEBHOOKS]
        ids = [outbox.publish("rsvp.created", {"n": n}) for n in range(6)]
        await rec.wait_accepted(len(ids))

        accepted = [s.delivery_id for s in rec.accepted]
        assert accepted == ids  # each exactly once, in the order published
        assert [s.body["data"]["n"] for s in rec.accepted] == list(range(6))
        assert all(s.signed for s in rec.seen)
        # The five failed attempts all carried the first delivery's id: order was kept.
        assert {s.delivery_id for s in rec.seen if s.answered != "ok"} == {ids[0]}

        response = await client.get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=AUTH)
        listed = (await response.json())["deliveries"]
        assert [d["id"] for d in listed] == ids[::-1]
        assert {d["state"] for d in listed} == {"delivered"}
        assert listed[-1]["attempts"] == 6


async def test_an_endpoint_gets_only_the_kinds_it_asked_for(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, redis: Redis
) -> None:
    async with receiver(SECRET) as rec:
        client = await _server(aiohttp_client, redis_server.url)
        await _register(client, rec.url, ["session.started"])
        outbox = client.server.app[WEBHOOKS]
        outbox.publish("rsvp.created", {"skip": True})
        marker = outbox.publish("session.started", {"marker": True})
        await rec.wait_accepted(1)
        # The marker was queued after the unwanted kind: had that been queued, it came first.
        assert [s.delivery_id for s in rec.seen] == [marker]


async def test_an_endpoint_registered_on_a_running_node_is_delivered_to_at_once(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, redis: Redis
) -> None:
    """The dispatcher looks for endpoints every ``ENDPOINTS_EVERY`` (5 s) since the idle
    branch; one registered on this node must not wait for that look."""
    async with receiver(SECRET) as rec:
        client = await _server(aiohttp_client, redis_server.url)
        await asyncio.sleep(0.2)  # the dispatcher's first look is done: it waits now
        await _register(client, rec.url)
        client.server.app[WEBHOOKS].publish("rsvp.created", {"n": 1})
        await rec.wait_accepted(1, timeout=2.0)


async def test_an_endpoint_registered_on_another_node_is_delivered_to_after_a_look(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An endpoint added where this node's store does not see it (another node) is found
    at the dispatcher's next look: the look still happens without a wake-up."""
    monkeypatch.setattr(dispatcher, "ENDPOINTS_EVERY", 0.3)
    async with receiver(SECRET) as rec:
        client = await _server(aiohttp_client, redis_server.url)
        await asyncio.sleep(0.2)
        await WebhookStore(redis).add(rec.url, ["*"], SECRET)
        client.server.app[WEBHOOKS].publish("rsvp.created", {"n": 1})
        await rec.wait_accepted(1, timeout=3.0)


async def test_bad_endpoints_are_refused_with_a_code_and_change_nothing(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, redis: Redis
) -> None:
    client = await _server(aiohttp_client, redis_server.url)
    for body, code in [
        ({"url": "ftp://127.0.0.1/x", "kinds": "*"}, "bad_url"),
        ({"url": "/relative", "kinds": "*"}, "bad_url"),
        ({"url": "http://127.0.0.1/x", "kinds": ["nope"]}, "bad_kind"),
        ({"url": "http://127.0.0.1/x", "kinds": "*", "secret": "short"}, "bad_secret"),
    ]:
        response = await client.post("/api/webhooks", json=body, headers=AUTH)
        assert response.status == 400
        assert (await response.json())["error"]["code"] == code
    response = await client.get("/api/webhooks", headers=AUTH)
    assert (await response.json())["endpoints"] == []
    response = await client.delete("/api/webhooks/wh_missing", headers=AUTH)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
