"""The node registry, placement, room leases with fencing, and ``salon nodes``, each on one
Redis and on the Redis Cluster (``backend``)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.cli.main import main
from server.cluster.heartbeat import Heartbeat
from server.cluster.leases import LeaseHeld, LeaseStore
from server.cluster.placement import pick_node
from server.cluster.registry import Load, NodeRegistry, now_ms
from server.ids import RoomId
from server.redis_client import RedisClient
from server.settings import Settings
from tests.functional.conftest import make_settings

Backend = tuple[str, RedisClient]


def node_settings(url: str, node_id: str, port: int, **extra: Any) -> Settings:
    return make_settings(
        url,
        **{
            "node.id": node_id,
            "server.port": port,
            "node.heartbeat": 0.1,
            "node.ttl": 0.6,
            **extra,
        },
    )


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def test_nodes_register_beat_with_their_load_and_leave(backend: Backend) -> None:
    url, redis = backend
    registry = NodeRegistry(redis, 0.6)
    a = Heartbeat(registry, node_settings(url, "a", 9001), lambda: Load(2, 30, 25))
    b = Heartbeat(registry, node_settings(url, "b", 9002), lambda: Load(1, 5, 4))
    await a.start()
    await b.start()
    try:
        nodes = {n.node_id: n for n in await registry.nodes()}
        assert set(nodes) == {"a", "b"}
        assert nodes["a"].url == "http://127.0.0.1:9001"
        assert nodes["a"].ice_address == "127.0.0.1"
        assert (nodes["a"].load.rooms, nodes["a"].load.participants) == (2, 30)
        assert nodes["b"].load.subscribers == 4
        # An orderly stop leaves at once.
        await b.stop()
        assert [n.node_id for n in await registry.nodes()] == ["a"]
    finally:
        await a.stop()
        await b.stop()
    assert await registry.nodes() == []


async def test_a_node_that_stops_beating_expires_after_its_ttl(backend: Backend) -> None:
    url, redis = backend
    registry = NodeRegistry(redis, 0.6)
    crashed = Heartbeat(registry, node_settings(url, "crashed", 9003), Load)
    await crashed.beat()  # registered, then never again: a crash
    assert [n.node_id for n in await registry.nodes()] == ["crashed"]

    async def gone() -> bool:
        return await registry.nodes() == []

    await until(gone)


async def test_placement_picks_the_least_loaded_live_node_and_skips_drained_ones(
    backend: Backend,
) -> None:
    url, redis = backend
    registry = NodeRegistry(redis, 5.0)
    loads = {"a": Load(3, 40), "b": Load(1, 10), "c": Load(0, 0)}
    beats = [
        Heartbeat(
            registry, node_settings(url, n, 9010 + i, **{"node.ttl": 5.0}), lambda n=n: loads[n]
        )
        for i, n in enumerate(loads)
    ]
    for beat in beats:
        await beat.beat()
    assert pick_node(await registry.nodes(), now_ms(), 5000).node_id == "c"  # type: ignore[union-attr]
    await registry.drain("c")
    await beats[2].beat()
    assert beats[2].draining, "the drained node learns it at its next heartbeat"
    assert pick_node(await registry.nodes(), now_ms(), 5000).node_id == "b"  # type: ignore[union-attr]
    # A node not heard from within the TTL is not picked either.
    assert pick_node(await registry.nodes(), now_ms() + 60_000, 5000) is None
    assert await registry.undrain("c")
    assert pick_node(await registry.nodes(), now_ms(), 5000).node_id == "c"  # type: ignore[union-attr]


async def test_salon_nodes_list_and_drain(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, redis = backend
    monkeypatch.setenv("SALON_REDIS_URL", url)
    registry = NodeRegistry(redis, 5.0)
    beat = Heartbeat(
        registry, node_settings(url, "n1", 9020, **{"node.ttl": 5.0}), lambda: Load(1, 3)
    )
    await beat.beat()
    assert await asyncio.to_thread(main, ["nodes", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(n["id"], n["rooms"], n["participants"], n["draining"]) for n in listed] == [
        ("n1", 1, 3, False)
    ]
    assert await asyncio.to_thread(main, ["nodes", "drain", "n1"]) == 0
    assert json.loads(capsys.readouterr().out)["draining"] is True
    assert [n.draining for n in await registry.nodes()] == [True]

    assert await asyncio.to_thread(main, ["nodes", "drain", "ghost"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("salon: unknown_node: ")
    assert "Traceback" not in out.err
    assert await registry.nodes() and not await redis.sismember("salon:{nodes}:draining", "ghost")


async def test_a_lease_is_held_by_one_node_and_a_stale_token_is_refused(backend: Backend) -> None:
    _, redis = backend
    leases = LeaseStore(redis, 0.3)
    room = RoomId("vip")
    state = "salon:{r:vip}:state"
    first = await leases.acquire(room, "a")
    with pytest.raises(LeaseHeld) as held:
        await leases.acquire(room, "b")
    assert (held.value.holder, held.value.token) == ("a", first.token)
    assert await leases.renew(first)
    assert await leases.fenced_hset(first, state, "stage", "a-wrote")
    assert (await leases.acquire(room, "a")).token == first.token, "re-acquiring keeps the token"

    # a stops renewing (paused, partitioned): its lease runs out and b takes the room.
    async def taken() -> bool:
        try:
            await leases.acquire(room, "b")
        except LeaseHeld:
            return False
        return True

    await until(taken)
    second = await leases.holder(room)
    assert second is not None and second.node_id == "b" and second.token > first.token
    # a learns it at its very next renewal, and its writes are refused, not applied.
    assert not await leases.renew(first)
    assert not await leases.fenced_hset(first, state, "stage", "a-late")
    assert not await leases.check(first) and await leases.check(second)
    assert await leases.fenced_hset(second, state, "stage", "b-wrote")
    assert await redis.hget(state, "stage") == b"b-wrote"
    assert not await leases.release(first)
    assert await leases.release(second)
    assert await leases.holder(room) is None
    third = await leases.acquire(room, "a")
    assert third.token > second.token, "tokens only grow"


async def test_a_serving_app_registers_itself_and_leaves_on_an_orderly_stop(
    backend: Backend,
) -> None:
    url, redis = backend
    settings = node_settings(url, "app-node", 9030, **{"server.public_url": "https://n1.example"})
    registry = NodeRegistry(redis, settings.node.ttl)
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        nodes = await registry.nodes()
        assert [(n.node_id, n.url, n.load.rooms) for n in nodes] == [
            ("app-node", "https://n1.example", 0)
        ]
    finally:
        await server.close()
    assert await registry.nodes() == []
