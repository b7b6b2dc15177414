"""Kill -9 of a room's owner while its members chat (issue 11, item 3: "the engagement
events of that session are all in the stream, none twice"). Real Redis Cluster, two real
``salon serve`` processes sharing one spill root, Debian's HAProxy (as ``make cluster``).

Pins three bugs: chat lines broadcast in the last journal interval before the kill were
never in the stream (the room acknowledged them before they were written anywhere); the
events the killed node still held reached the stream only when that node came back; and
the pages on the dead node never got a leave (their watch time never ended)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server import operations as ops
from server.cluster.leases import LeaseStore
from server.devtools.cluster import LocalCluster, start
from server.devtools.redis_embed import free_port
from server.engagement.events import STREAM_FIELD, STREAM_KEY, Event, decode
from server.engagement.members import MemberStore
from server.ids import RoomId
from server.redis_client import RedisClient, connect
from server.rooms.lost_pages import leave_event_id
from server.rooms.store import RoomStore
from tests.cluster.test_takeover import ADMIN, SECRET, Page
from tests.functional.conftest import Socket
from tests.support.waiting import eventually

VIP = RoomId("vip")
# Seconds of chat before the kill.
CHATTING_S = 1.5


@pytest.fixture
async def chatty() -> AsyncIterator[tuple[LocalCluster, str, RedisClient]]:
    port = free_port()
    env = {"SALON_INTERACTIONS_CHAT_RATE": "1000", "SALON_INTERACTIONS_CHAT_BURST": "1000"}
    local = await asyncio.to_thread(start, 2, port, SECRET, ADMIN, env)
    redis = connect(local.redis.url, 5.0)
    try:
        members, rooms = MemberStore(redis), RoomStore(redis)
        for member, tier in [("cora", "core"), ("ada", "active"), ("host", "core")]:
            await ops.set_member(members, member, tier, member.title())
        await ops.create_room(rooms, "vip", "VIP lounge", "core,active", capacity=10)
        yield local, f"http://127.0.0.1:{port}", redis
    finally:
        await asyncio.to_thread(local.stop)
        await redis.aclose()


async def chat_until_closed(ws: Socket, author: str) -> int:
    """Send a chat line every few milliseconds until the socket fails; lines sent."""
    sent = 0
    with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
        while not ws.ws.closed:
            await ws.send({"type": "chat_send", "text": f"{author}-{sent}"})
            sent += 1
            await asyncio.sleep(0.005)
    return sent


async def acknowledged(ws: Socket, seen: set[str]) -> None:
    """Every chat line broadcast to this page (by id), until its socket closes."""
    while True:
        msg = await ws.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        data = json.loads(msg.data)
        if data["type"] == "chat":
            seen.add(data["id"])


async def session_events(redis: RedisClient, session: str) -> list[Event]:
    events = [decode(fields[STREAM_FIELD]) for _, fields in await redis.xrange(STREAM_KEY)]
    return [e for e in events if e.data.get("session") == session]


def node_logs(local: LocalCluster) -> str:
    """What the nodes logged about adoption and lost pages (for a failure's message)."""
    lines = []
    for path in sorted(local.workdir.glob("node-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if any(word in line for word in ("adopt", "lost", "journal", "Traceback")):
                lines.append(f"{path.name}: {line}")
    return "\n".join(lines[-40:])


@pytest.mark.timeout(240)
async def test_every_acknowledged_chat_line_once_and_a_leave_for_each_lost_page(
    chatty: tuple[LocalCluster, str, RedisClient],
) -> None:
    local, base, redis = chatty
    async with aiohttp.ClientSession() as http:
        pages = [Page(http, base, m, r) for m, r in
                 [("host", "host"), ("cora", "member"), ("ada", "member")]]  # fmt: skip
        first = [await page.join() for page in pages]
        assert all(reply["type"] == "joined" for reply in first)
        session = first[0]["interactions"]["session"]
        # The members' pages (a host holds no place: its leave is not looked for).
        lost = {
            page.member: reply["you"]["id"]
            for page, reply in zip(pages, first, strict=True)
            if page.role == "member"
        }
        sockets = [await page.socket() for page in pages]
        seen: set[str] = set()
        readers = [asyncio.ensure_future(acknowledged(ws, seen)) for ws in sockets]
        writers = [
            asyncio.ensure_future(chat_until_closed(ws, page.member))
            for ws, page in zip(sockets, pages, strict=True)
        ]
        await asyncio.sleep(CHATTING_S)
        lease = await LeaseStore(redis, 3.0).holder(VIP)
        assert lease is not None
        local.nodes[int(lease.node_id.removeprefix("node-"))].kill()  # mid-chat
        await asyncio.wait(readers, timeout=15)
        sent = sum(await asyncio.gather(*writers))
        acked = set(seen)
        print(f"{sent} chat lines sent, {len(acked)} broadcast before the kill, last "
              f"{max(acked, key=lambda m: int(m.lstrip('c')))}")  # fmt: skip
        assert len(acked) > 50, "the members did not chat"

        async def back(page: Page) -> dict[str, Any]:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    reply = await page.join()
                    if reply["type"] == "joined":
                        return reply
                await asyncio.sleep(0.1)
            raise AssertionError(f"{page.member} not back")

        replies = await asyncio.gather(*(back(page) for page in pages))
        assert {reply["interactions"]["session"] for reply in replies} == {session}

    leave_ids = {member: leave_event_id(session, pid) for member, pid in lost.items()}

    async def accounted() -> tuple[list[str], list[str], dict[str, int]]:
        """Acknowledged lines missing from the stream, lines in it twice, and how many
        times each lost page's leave is in it."""
        events = await session_events(redis, session)
        chats = Counter(str(e.data.get("message_id")) for e in events if e.kind == "chat")
        leaves = Counter(e.id for e in events if e.kind == "leave")
        missing = sorted(acked - set(chats), key=lambda m: int(m.lstrip("c")))
        twice = sorted(m for m in acked if chats[m] > 1)
        return missing, twice, {member: leaves[i] for member, i in leave_ids.items()}

    try:
        _, twice, leaves = await eventually(
            accounted,
            until=lambda found: not found[0] and all(found[2].values()),
            timeout=20,
            what="every acknowledged chat line and every lost page's leave in the stream",
        )
    except AssertionError as failed:
        raise AssertionError(f"{failed}\nthe nodes said:\n{node_logs(local)}") from None
    assert twice == [], "acknowledged chat lines in the stream twice"
    assert leaves == {member: 1 for member in lost}, "a lost page's leave twice"
    by_id = {e.id: e for e in await session_events(redis, session)}
    for member, event_id in leave_ids.items():
        event = by_id[event_id]
        assert (event.member_id, event.data["reason"]) == (member, "node_lost")
        # Timed at the lease's last renewal (each second) at the earliest.
        assert event.data["watch_seconds"] >= CHATTING_S - 1.2
        assert event.data["role"] == "member"
