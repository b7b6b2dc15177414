"""A room of a few hundred signaling clients: presence stays linear, pages and search work.

Real server, real Redis, real WebSockets; the presence interval and budget are the real
mechanism (no test shortcut): joins and leaves arrive as deltas, at most one per interval
and within the room's budget of sockets a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import token

MEMBERS = 300
BUDGET = 600  # sockets a second: at 300 people a delta goes every 0.5 s, not every 0.25 s
PAGE = 40


class Client:
    """One member's socket, counting the presence deltas it is sent."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.presence = 0
        self.count = 0
        self.counted: dict[int, asyncio.Event] = {}
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            if message["type"] == "presence":
                self.presence += 1
                self.count = message["count"]
                if self.count in self.counted:
                    self.counted[self.count].set()
            else:
                await self.replies.put(message)

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send_json(message)
        return await asyncio.wait_for(self.replies.get(), 10)

    async def told(self, count: int) -> None:
        """Until a presence delta says the room holds ``count`` people."""
        if self.count != count:
            await asyncio.wait_for(self.counted.setdefault(count, asyncio.Event()).wait(), 30)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def test_presence_grows_linearly_and_late_joiners_get_the_first_page(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]], seeded: Redis
) -> None:
    members, rooms = MemberStore(seeded), RoomStore(seeded)
    for i in range(MEMBERS + 1):
        await ops.set_member(members, f"fan{i:03d}", "core", f"Fan {i:03d} Núñez")
    await ops.create_room(rooms, "big", "Big room", "core", capacity=MEMBERS + 10)
    server = await serve(
        **{
            # Not a test of Redis timeouts: the server shares this process (and its
            # collector, over the whole suite's heap) with 300 clients, and a pause of 2 s
            # on a busy CI machine once made all 25 joins of a batch fail closed.
            "redis.timeout": 10,
            "signaling.presence_interval": 0.25,
            "signaling.presence_budget": BUDGET,
            "signaling.people_page": PAGE,
        }
    )
    url = server.make_url("/ws")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def join(member: str, role: str = "member") -> tuple[Client, dict[str, Any]]:
            ws = await http.ws_connect(url, protocols=("salon.v1.json",))
            await ws.send_json({"type": "join", "token": token(member, "big", role)})
            joined = json.loads((await ws.receive(timeout=10)).data)
            assert joined["type"] == "joined", joined
            return Client(ws), joined

        host, _ = await join("host", "host")
        started = time.monotonic()
        fans: list[Client] = []
        for first in range(0, MEMBERS, 25):  # 25 at once, as fast as the machine goes
            batch = await asyncio.gather(
                *(join(f"fan{i:03d}") for i in range(first, min(first + 25, MEMBERS)))
            )
            fans += [client for client, _ in batch]
        await host.told(MEMBERS + 1)
        elapsed = time.monotonic() - started
        # Every delta is told: let the last one reach every socket (a reply marks the end).
        for client in [host, *fans]:
            await client.ask({"type": "people_page", "before": 1, "ref": "mark"})
        assert all(client.count == MEMBERS + 1 for client in fans)

        # Presence per join is bounded by the budget and the join rate, not by the room
        # size: one message per join per person (the old way) would be ~45,000 here.
        sent = host.presence + sum(client.presence for client in fans)
        per_join = sent / MEMBERS
        print(
            f"{MEMBERS} joins in {elapsed:.2f} s: {sent} presence messages, {per_join:.1f} per join"
        )
        assert sent <= BUDGET * elapsed + MEMBERS + 1, (sent, elapsed)
        assert per_join <= BUDGET / (MEMBERS / elapsed) + 2, (per_join, elapsed)
        assert sent < MEMBERS * (MEMBERS - 1) / 2 / 10, sent
        # A delta at most every interval, whatever the join rate.
        assert host.presence <= elapsed / 0.25 + 1, (host.presence, elapsed)

        # A late joiner sees the right count and the first page: the host, then the
        # newest members, themselves first.
        late, joined = await join(f"fan{MEMBERS:03d}")
        assert joined["count"] == MEMBERS + 2
        first = [p["member_id"] for p in joined["participants"]]
        assert joined["participants"][0]["role"] == "host"
        assert first[1] == f"fan{MEMBERS:03d}"
        assert len(first) == 1 + PAGE
        # Joined 25 at a time: the rest of the page is from the last two batches.
        assert set(first[2:]) <= {f"fan{i:03d}" for i in range(MEMBERS - 50, MEMBERS)}
        # … and can page through everyone else, once each.
        seen = [p["member_id"] for p in joined["participants"][1:]]
        cursor = joined["people_next"]
        while cursor is not None:
            page = await late.ask({"type": "people_page", "before": cursor, "ref": "more"})
            assert page["type"] == "people_page" and page["ref"] == "more"
            assert page["count"] == MEMBERS + 2
            seen += [p["member_id"] for p in page["people"]]
            cursor = page["next"]
        assert sorted(seen) == [f"fan{i:03d}" for i in range(MEMBERS + 1)]

        # The host finds anyone by name, in any case; members may not search.
        for i in range(MEMBERS + 1):
            found = await host.ask({"type": "people_search", "query": f"fan {i:03d} NÚ"})
            assert [p["member_id"] for p in found["people"]] == [f"fan{i:03d}"], found
        refused = await late.ask({"type": "people_search", "query": "fan", "ref": "s"})
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "s")
        assert refused["params"] == {"action": "search_people", "role": "member"}
        bad = await host.ask({"type": "people_search", "query": "x" * 65})
        assert (bad["type"], bad["code"]) == ("error", "invalid_field")

        for client in [host, late, *fans]:
            await client.close()
