"""``joined`` is the first message a joining socket gets, whatever the room broadcasts
while the join is still reading its state.

Real server, real Redis, the Redis room state (its reads during a join yield to the
loop), real WebSockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import token

MEMBERS = 40


async def test_joined_comes_before_any_broadcast_of_the_room(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]], seeded: Redis
) -> None:
    """Bug: a join awaited its features' state (Redis reads with the Redis room state)
    after its participant was already in the room, so a chat line or a presence delta
    broadcast meanwhile reached the page before its ``joined`` (the load tester counted
    those joins as refused: ``unexpected_presence``)."""
    members, rooms = MemberStore(seeded), RoomStore(seeded)
    for i in range(MEMBERS):
        await ops.set_member(members, f"fan{i:03d}", "core", f"Fan {i:03d}")
    await ops.create_room(rooms, "busy", "Busy room", "core", capacity=MEMBERS + 10)
    server = await serve(**{"rooms.state": "redis", "signaling.presence_interval": 0.05})
    url = server.make_url("/ws")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        host = await http.ws_connect(url, protocols=("salon.v1.json",))
        await host.send_json({"type": "join", "token": token("host", "busy", "host")})
        assert json.loads((await host.receive(timeout=10)).data)["type"] == "joined"
        chatting = True

        async def chatter() -> None:
            n = 0
            while chatting:
                await host.send_json({"type": "chat_send", "text": f"line {n}"})
                n += 1
                await asyncio.sleep(0.002)

        async def drain() -> None:
            async for _ in host:
                pass

        talking = asyncio.create_task(chatter())
        reading = asyncio.create_task(drain())

        async def first_message(member: str) -> str:
            ws = await http.ws_connect(url, protocols=("salon.v1.json",))
            await ws.send_json({"type": "join", "token": token(member, "busy")})
            first = json.loads((await ws.receive(timeout=10)).data)
            await ws.close()
            return str(first["type"])

        firsts = await asyncio.gather(*(first_message(f"fan{i:03d}") for i in range(MEMBERS)))
        chatting = False
        await talking
        await host.close()
        await reading
    assert firsts == ["joined"] * MEMBERS, [t for t in firsts if t != "joined"]
