"""Cross-node effects (issue 11) with two real ``salon serve`` processes on one Redis
(tests/cluster re-runs this module on the Redis Cluster): members are in a room on node A,
the REST call lands on node B, and the host on A sees its effect; ``/api/rooms`` and
``/metrics?scope=cluster`` show both nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.rooms.store import RoomStore
from server.rooms.whereabouts import live_key
from tests.functional.conftest import ADMIN_KEY, Restartable, Socket, make_settings, token
from tests.functional.crash_rig import ServeProcess
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
FAST = {"SALON_NODE_HEARTBEAT": "0.2", "SALON_NODE_TTL": "3", "SALON_REDIS_TIMEOUT": "3"}


class Nodes:
    def __init__(self, http: aiohttp.ClientSession, a: ServeProcess, b: ServeProcess) -> None:
        self.http, self.a, self.b = http, a, b
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def join(
        self, node: ServeProcess, member: str, room: str, role: str = "member"
    ) -> tuple[Socket, dict[str, Any]]:
        ws = await self.http.ws_connect(f"{node.url}/ws")
        self.sockets.append(ws)
        socket = Socket(ws)
        reply = await socket.join(token(member, room, role), room)
        assert reply["type"] == "joined", reply
        return socket, reply

    async def get(self, node: ServeProcess, path: str) -> tuple[int, Any]:
        async with self.http.get(f"{node.url}{path}", headers=AUTH) as response:
            body = await response.text()
            kind = response.headers.get("Content-Type", "")
            return response.status, (await response.json() if "json" in kind else body)

    async def post(self, node: ServeProcess, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(f"{node.url}{path}", headers=AUTH, json=body) as response:
            return response.status, await response.json()


@pytest.fixture
async def nodes(redis_server: Any, seeded: Redis, tmp_path: Path) -> AsyncIterator[Nodes]:
    """Node A without a scorer (a tier change must come from B's), node B with one."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_env = {**FAST, "SALON_NODE_ID": "node-a", "SALON_ENGAGEMENT_SCORER_ENABLED": "false"}
    a = ServeProcess(redis_server.url, tmp_path / "a", a_env)
    b = ServeProcess(redis_server.url, tmp_path / "b", {**FAST, "SALON_NODE_ID": "node-b"})
    async with aiohttp.ClientSession() as http:
        try:
            await asyncio.gather(a.start(http), b.start(http))
            two = Nodes(http, a, b)
            yield two
            for ws in two.sockets:
                await ws.close()
        finally:
            await asyncio.gather(a.stop(), b.stop())


async def test_a_purchase_reported_to_another_node_is_credited_to_the_session_and_shown_to_its_host(
    nodes: Nodes, seeded: Redis
) -> None:
    host, _ = await nodes.join(nodes.a, "host", "vip", "host")
    _, joined = await nodes.join(nodes.a, "cora", "vip")
    session = joined["interactions"]["session"]
    await eventually(lambda: seeded.hlen(live_key("cora")), what="cora's whereabouts")
    order = {
        "order_id": "x-1",
        "member_id": "cora",
        "product_id": "bag-1",
        "amount": "49.00",
        "currency": "EUR",
    }
    status, answer = await nodes.post(nodes.b, "/api/purchases", order)
    assert status == 201, answer
    assert answer["attribution"] == {"room_id": "vip", "session": session, "via": "presence"}
    seen = await host.recv_type("purchase")
    assert (seen["member_id"], seen["product_id"], seen["amount"]) == ("cora", "bag-1", "49.00")


async def test_a_purchase_after_the_member_left_is_not_credited_by_presence_on_another_node(
    nodes: Nodes, seeded: Redis
) -> None:
    """The leave removes the member's whereabouts: B finds no live room to credit."""
    await nodes.join(nodes.a, "host", "vip", "host")
    cora, _ = await nodes.join(nodes.a, "cora", "vip")
    await eventually(lambda: seeded.hlen(live_key("cora")), what="cora's whereabouts")
    await cora.send({"type": "leave"})
    assert await cora.closed_with() is not None
    await eventually(
        lambda: seeded.hlen(live_key("cora")), until=lambda n: n == 0, what="cora gone"
    )
    order = {"order_id": "x-2", "member_id": "cora", "product_id": "bag-1",
             "amount": "9.00", "currency": "EUR"}  # fmt: skip
    status, answer = await nodes.post(nodes.b, "/api/purchases", order)
    assert (status, answer["attribution"]) == (201, None)


async def test_a_tier_change_decided_on_another_node_reaches_the_host(
    nodes: Nodes, seeded: Redis
) -> None:
    await ops.create_room(RoomStore(seeded), "open", "Open room", "potential,active,core")
    body = {"tier": "potential", "name": "Zed", "auto": True}
    async with nodes.http.put(f"{nodes.b.url}/api/members/zed", headers=AUTH, json=body) as r:
        assert r.status == 200, await r.text()
    host, _ = await nodes.join(nodes.a, "host", "open", "host")
    await nodes.join(nodes.a, "zed", "open")
    event = {"kind": "purchase", "id": "shop-x-1", "member_id": "zed", "order_id": "SX-1",
             "amount": "59.90", "currency": "EUR"}  # fmt: skip
    status, answer = await nodes.post(nodes.b, "/api/events", event)
    assert status == 202, answer
    pushed = await host.recv_type("tier", timeout=15)
    assert {k: pushed[k] for k in ("member_id", "from", "to")} == {
        "member_id": "zed",
        "from": "potential",
        "to": "active",
    }


async def test_rooms_and_metrics_show_every_node_and_forget_a_stopped_one(
    nodes: Nodes, seeded: Redis
) -> None:
    await nodes.join(nodes.a, "cora", "vip")
    await nodes.join(nodes.b, "cody", "other")

    async def live_on_a() -> list[tuple[str, str, str, int]]:
        status, listed = await nodes.get(nodes.a, "/api/rooms")
        assert status == 200, listed
        return [(r["room_id"], r["node"], r["url"], r["participants"]) for r in listed["live"]]

    both = [("other", "node-b", nodes.b.url, 1), ("vip", "node-a", nodes.a.url, 1)]
    await eventually(live_on_a, until=lambda rooms: rooms == both, what="both nodes' rooms")
    status, text = await nodes.get(nodes.a, "/metrics?scope=cluster")
    assert status == 200
    assert 'salon_rooms{node="node-a"} 1.0' in text
    assert 'salon_rooms{node="node-b"} 1.0' in text
    assert 'salon_participants{node="node-b",role="member"} 1.0' in text
    assert 'salon_node_cpu_seconds_total{node="node-b"}' in text
    status, own = await nodes.get(nodes.a, "/metrics")
    assert "\nsalon_rooms 1.0" in own and "node=" not in own
    status, refused = await nodes.get(nodes.a, "/metrics?scope=everything")
    assert status == 400 and refused["error"]["code"] == "invalid_field"
    # An orderly stop takes the node's rooms out of the list at once.
    await nodes.b.stop()
    rooms = await live_on_a()
    assert rooms == [("vip", "node-a", nodes.a.url, 1)]


async def test_the_cluster_metrics_answer_unavailable_while_redis_is_gone(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    own_redis: Restartable,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every node's figures are in Redis: without it ``?scope=cluster`` answers 503 with its
    code (no traceback), and this node's own ``/metrics`` still answers."""
    server = await own_redis.up()
    client = await aiohttp_client(create_app(make_settings(server.url, **{"redis.timeout": 0.5})))
    assert (await client.get("/metrics?scope=cluster")).status == 200
    await own_redis.down()
    response = await client.get("/metrics?scope=cluster")
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "unavailable"
    assert (await client.get("/metrics")).status == 200
    assert "Traceback" not in caplog.text
