"""Bans and removals from outside the room (REST, the ``salon`` CLI as a separate process)
send a present member out at once, through Redis, on whichever node they are.

"At once" is about a second on a quiet machine; the tests wait up to ``WAIT`` for each
message, a bound for a hung test and not a timing claim (a loaded machine delays the order's
trip through Redis and both processes: a one-second wait could fail there while the removal
itself was right)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientConnectionResetError, WSMessage, WSMsgType
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import REMOVALS, create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import (
    ADMIN_KEY,
    SECRET,
    Restartable,
    Socket,
    make_settings,
    token,
)
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
REMOVED = 4410
WAIT = 10.0
Connect = Callable[..., Awaitable[Socket]]


async def _listening(*clients: TestClient[Any, Any]) -> None:
    for client in clients:
        await asyncio.wait_for(client.app[REMOVALS].subscribed.wait(), 5)


async def _joined(connect: Connect, member: str) -> Socket:
    ws = await connect()
    reply = await ws.join(token(member))
    assert reply["type"] == "joined", reply
    return ws


async def _receive(ws: Socket) -> WSMessage:
    """The next message; a server ping queued before the close makes the client's
    automatic pong fail on the closing transport: that ping is skipped, not an error."""
    for _ in range(3):
        with contextlib.suppress(ClientConnectionResetError):
            return await ws.ws.receive(timeout=WAIT)
    raise AssertionError("the socket kept failing")


async def _sent_out(ws: Socket, banned: bool) -> None:
    """The member is told why, then the socket closes with ``removed``."""
    message = await _receive(ws)
    while message.type is WSMsgType.TEXT and json.loads(message.data)["type"] != "error":
        message = await _receive(ws)  # presence and room messages sent before the removal
    assert message.type is WSMsgType.TEXT, message
    error = json.loads(message.data)
    assert error["code"] == "removed", error
    assert error["params"]["banned"] is banned, error
    # The code the server's close frame carries (the client's own close_code can read 1006
    # when the server drops the connection before the client's acknowledgement is written).
    closing = await _receive(ws)
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, REMOVED), closing


async def test_a_ban_over_rest_sends_a_present_member_out_at_once(
    client: TestClient[Any, Any], connect: Connect
) -> None:
    """Issue 9: a ban added over REST did not remove a member already in the room."""
    await _listening(client)
    cora = await _joined(connect, "cora")
    response = await client.put("/api/rooms/vip/bans/cora", headers=AUTH)
    assert response.status == 200
    await _sent_out(cora, banned=True)
    again = await connect()
    refused = await again.join(token("cora"))
    assert (refused["type"], refused["code"]) == ("error", "banned")


async def test_a_removal_over_rest_sends_the_member_out_without_a_ban(
    client: TestClient[Any, Any], connect: Connect
) -> None:
    await _listening(client)
    cora = await connect()
    cora_id = (await cora.join(token("cora")))["you"]["id"]
    cody = await _joined(connect, "cody")
    # Not cody's room, and not a member of it: nothing happens to anyone.
    assert (await client.post("/api/rooms/other/removals/cody", headers=AUTH)).status == 202
    response = await client.post("/api/rooms/vip/removals/cora", headers=AUTH)
    assert response.status == 202
    assert await response.json() == {"room_id": "vip", "member_id": "cora", "nodes": 1}
    await _sent_out(cora, banned=False)
    # The marker: cody, still connected, sees cora leave (the order for 'other' came first).
    left = await cody.recv_type("presence", timeout=WAIT)
    while cora_id not in left["left"]:
        left = await cody.recv_type("presence", timeout=WAIT)
    # Not a ban, but it holds for the rest of this room session (issue 13), from REST too.
    again = await connect()
    refused = await again.join(token("cora"))
    assert (refused["type"], refused["code"]) == ("error", "removed"), refused


async def _salon(redis_url: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env.update(SALON_REDIS_URL=redis_url, SALON_SECRET=SECRET)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_cli_bans_and_removes_a_present_member_at_once(
    client: TestClient[Any, Any], connect: Connect, redis_server: EmbeddedRedis
) -> None:
    """The CLI is another process: the order must travel through Redis."""
    await _listening(client)
    cora = await _joined(connect, "cora")
    cody = await _joined(connect, "cody")
    code, out = await _salon(redis_server.url, "removals", "add", "vip", "cody")
    assert code == 0, out
    assert "sent to 1 node" in out
    await _sent_out(cody, banned=False)
    code, out = await _salon(redis_server.url, "bans", "add", "vip", "cora")
    assert code == 0, out
    await _sent_out(cora, banned=True)


async def test_a_ban_on_one_node_sends_the_member_out_of_another(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    client: TestClient[Any, Any],
    connect: Connect,
    redis_server: EmbeddedRedis,
) -> None:
    """A multi-node deployment: the REST call lands on one node, the member is on another."""
    other = await aiohttp_client(create_app(make_settings(redis_server.url)))
    await _listening(client, other)
    cora = await _joined(connect, "cora")  # on the first node
    response = await other.put("/api/rooms/vip/bans/cora", headers=AUTH)
    assert response.status == 200
    await _sent_out(cora, banned=True)


async def test_a_ban_made_while_a_node_was_not_listening_applies_when_it_is_back(
    client: TestClient[Any, Any], connect: Connect
) -> None:
    """Pub/sub reaches only connected nodes: a (re)subscribing node checks its rooms' bans."""
    await _listening(client)
    listener = client.app[REMOVALS]
    await listener.stop()
    cora = await _joined(connect, "cora")
    assert (await client.put("/api/rooms/vip/bans/cora", headers=AUTH)).status == 200
    listener.start()
    await _sent_out(cora, banned=True)


async def test_removals_still_arrive_after_redis_restarts(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], own_redis: Restartable
) -> None:
    """The listener's subscription dies with Redis; it must come back by itself."""
    server = await own_redis.up()
    seed = Redis.from_url(server.url)
    await ops.set_member(MemberStore(seed), "cora", "core", "Cora")
    await ops.create_room(RoomStore(seed), "vip", "VIP lounge", "core")
    await seed.aclose()
    client = await aiohttp_client(
        create_app(make_settings(server.url, **{"engagement.scorer_enabled": False}))
    )
    await _listening(client)
    ws = Socket(await client.ws_connect("/ws"))
    assert (await ws.join(token("cora")))["type"] == "joined"
    await own_redis.down()
    await own_redis.up()  # empty, on the same port; the socket stayed open meanwhile

    async def nodes_told() -> int:  # 0 nodes: nobody heard it
        response = await client.post("/api/rooms/vip/removals/cora", headers=AUTH)
        return int((await response.json())["nodes"]) if response.status == 202 else 0

    await eventually(
        nodes_told, timeout=15, interval=0.2, what="the removals listener subscribed again"
    )
    await _sent_out(ws, banned=False)
    await ws.ws.close()
