"""A room's sockets through HAProxy (server/devtools/cluster.py, as ``make cluster``):
``/ws?room=ID`` lands on the node that owns the room, so nothing is relayed; a socket
without it (any other balancer, round-robin) is still relayed to the owner. Real Redis
Cluster, two ``salon serve`` processes in cluster mode, Debian's HAProxy; each node's own
``/metrics`` counts the sockets it relayed (``salon_relayed_out``) and took (``_in``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server import operations as ops
from server.cluster.leases import LeaseStore
from server.devtools.cluster import LocalCluster, servers_up
from server.engagement.members import MemberStore
from server.ids import RoomId
from server.redis_client import RedisClient
from server.rooms.store import RoomStore
from tests.cluster.local_cluster import Running, local_cluster
from tests.functional.conftest import Socket, token

SECRET = "routing-test-secret-0123456789abcdef"
ADMIN = "routing-admin"
ROOMS = [RoomId("vip"), RoomId("salon2")]
MEMBERS = ["cora", "ada", "cody", "pia"]


async def seed(local: LocalCluster, redis: RedisClient) -> None:
    """Pins a bug: ``start`` returned once HAProxy answered, with a node still DOWN in
    HAProxy's eyes; rooms opened then were owned by the other node and relayed for their
    whole life (4 relayed sockets in a 3-room run). It now returns with every node UP."""
    assert servers_up(local.workdir / "haproxy.sock") == 2
    members, rooms = MemberStore(redis), RoomStore(redis)
    for member in [*MEMBERS, "host"]:
        await ops.set_member(members, member, "core", member.title())
    for room in ROOMS:
        await ops.create_room(rooms, room, room.upper(), "core", capacity=20)


@pytest.fixture
async def nodes() -> AsyncIterator[Running]:
    async with local_cluster(2, SECRET, ADMIN, seed) as running:
        yield running


async def join(http: aiohttp.ClientSession, url: str, member: str, room: str) -> Socket:
    ws = Socket(await http.ws_connect(url, protocols=("salon.v1.json",)))
    role = "host" if member == "host" else "member"
    await ws.send({"type": "join", "token": token(member, role=role, room=room,
                                                   secret=SECRET), "room": room})  # fmt: skip
    reply = await ws.recv(timeout=10)
    assert reply["type"] == "joined", reply
    return ws


async def relays(http: aiohttp.ClientSession, local: LocalCluster) -> list[tuple[int, int]]:
    """(relayed out, relayed in) of each node, read from the node itself."""
    found = []
    for port in local.node_ports:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        values = {
            name: float(line.split()[-1])
            for line in text.splitlines()
            for name in ("salon_relayed_out_total", "salon_relayed_in_total")
            if line.startswith(name + " ")
        }
        found.append((int(values[
            "salon_relayed_out_total"]), int(values["salon_relayed_in_total"])))  # fmt: skip
    return found


@pytest.mark.timeout(180)
async def test_room_sockets_with_the_room_in_the_url_land_on_the_owner_without_relay(
    nodes: Running,
) -> None:
    local, base, redis = nodes
    ws_base = base.replace("http", "ws", 1)
    sockets: list[Socket] = []
    async with aiohttp.ClientSession() as http:
        for room in ROOMS:
            for member in ["host", *MEMBERS]:
                sockets.append(await join(http, f"{ws_base}/ws?room={room}", member, room))
        # Every join has had its answer, so any relay it took is counted by now.
        assert await relays(http, local) == [(0, 0), (0, 0)], "no socket was relayed"
        for room in ROOMS:
            assert await LeaseStore(redis, 3.0).holder(room) is not None
        # A socket with no room in its URL, as any other balancer may hand it to any node:
        # on the node that does not own the room, it is relayed to the owner.
        owner = await LeaseStore(redis, 3.0).holder(ROOMS[0])
        assert owner is not None
        mine = int(owner.node_id.removeprefix("node-"))
        other = f"ws://127.0.0.1:{local.node_ports[1 - mine]}/ws"
        sockets.append(await join(http, f"{ws_base}/ws?room={ROOMS[0]}", "host", ROOMS[0]))
        sockets.append(await join(http, other, "cora", ROOMS[0]))
        counts = await relays(http, local)
        assert counts[mine] == (0, 1), "the owner took one relayed socket"
        assert counts[1 - mine] == (1, 0), "the other node relayed it"
        await sockets[-1].send({"type": "chat_send", "text": "through the relay"})
        said: dict[str, Any] = await sockets[-2].recv_type("chat", timeout=10)
        assert said["text"] == "through the relay"
        for ws in sockets:
            await ws.ws.close()
