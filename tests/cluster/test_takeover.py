"""Kill -9 of the node that owns a live room (issue 11): the pages come back through
HAProxy with their resume tokens, another node takes the room over from Redis, and the
session is intact item by item. Real Redis Cluster, two real ``salon serve`` processes in
cluster mode and Debian's HAProxy (server/devtools/cluster.py, as ``make cluster``)."""

from __future__ import annotations

import asyncio
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
from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from server.engagement.members import MemberStore
from server.ids import RoomId
from server.redis_client import RedisClient, connect
from server.rooms.store import RoomStore
from tests.functional.conftest import PRODUCT, Socket, ask, token
from tests.support.waiting import eventually

SECRET = "takeover-test-secret-0123456789abcdef"
COUNTED = {"chat", "question", "upvote", "poll_vote"}
# poll_vote: the poll's creation (action "create") and ada's vote.
EXPECTED = Counter({"chat": 3, "question": 1, "upvote": 1, "poll_vote": 2})
ADMIN = "takeover-admin"
VIP = RoomId("vip")


class Page:
    """One browser tab through HAProxy: joins, keeps its resume token, comes back."""

    def __init__(self, http: aiohttp.ClientSession, base: str, member: str, role: str) -> None:
        self.http, self.base, self.member, self.role = http, base, member, role
        self.ws: Socket | None = None
        self.resume: str | None = None

    async def join(self) -> dict[str, Any]:
        ws = Socket(await self.http.ws_connect(f"{self.base}/ws", protocols=("salon.v1.json",)))
        self.ws = ws
        message: dict[str, Any] = {"type": "join", "token": token(self.member, role=self.role,
                                                                  secret=SECRET)}  # fmt: skip
        if self.resume is not None:
            message["resume"] = self.resume
        await ws.send(message)
        reply = await ws.recv(timeout=10)
        if reply["type"] == "joined":
            self.resume = reply["resume_token"]
        return reply

    async def socket(self) -> Socket:
        assert self.ws is not None
        return self.ws


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[LocalCluster, str, RedisClient]]:
    port = free_port()
    local = await asyncio.to_thread(
        start, 2, port, SECRET, ADMIN, {"SALON_SIGNALING_PRESENCE_INTERVAL": "0.01"}
    )
    redis = connect(local.redis.url, 5.0)
    try:
        members, rooms = MemberStore(redis), RoomStore(redis)
        for member, tier in [("cora", "core"), ("ada", "active"), ("cody", "core"),
                             ("pia", "potential"), ("host", "core")]:  # fmt: skip
            await ops.set_member(members, member, tier, member.title())
        await ops.create_room(rooms, "vip", "VIP lounge", "core,active", capacity=10,
                              invites=["pia"])  # fmt: skip
        yield local, f"http://127.0.0.1:{port}", redis
    finally:
        await asyncio.to_thread(local.stop)
        await redis.aclose()


async def next_of(ws: Socket, kind: str) -> dict[str, Any]:
    return await ws.recv_type(kind, timeout=10)


@pytest.mark.timeout(240)
async def test_kill_9_of_the_owner_brings_every_page_back_with_the_session_intact(
    nodes: tuple[LocalCluster, str, RedisClient],
) -> None:
    local, base, redis = nodes
    async with aiohttp.ClientSession() as http:
        host, cora, ada = (Page(http, base, m, r) for m, r in
                           [("host", "host"), ("cora", "member"), ("ada", "member")])  # fmt: skip
        assert (await host.join())["type"] == "joined"
        cora_id = (await cora.join())["you"]["id"]
        ada_id = (await ada.join())["you"]["id"]
        h, c, a = await host.socket(), await cora.socket(), await ada.socket()
        # The session: chat, a question and its vote, an open poll and a vote, a pinned
        # product, a co-host, a speaker, a ban and a removal.
        await c.send({"type": "chat_send", "text": "hello"})
        assert (await next_of(h, "chat"))["text"] == "hello"
        await h.send({"type": "chat_send", "text": "welcome"})
        question = await ask(c, "Which sizes?")
        await a.send({"type": "question_upvote", "id": question["id"]})
        await h.send({"type": "poll_create", "question": "Colour?", "options": ["Red", "Navy"]})
        poll = (await next_of(a, "poll"))["poll"]
        await a.send({"type": "poll_vote", "id": poll["id"], "option": 1})
        await next_of(a, "poll_voted")
        await h.send(PRODUCT)
        await next_of(c, "product")
        await h.send({"type": "make_cohost", "participant": ada_id})
        assert (await next_of(a, "role"))["participant"]["role"] == "cohost"
        await h.send({"type": "stage_invite", "participant": cora_id})
        await next_of(c, "stage_self")
        await c.send({"type": "stage_reply", "accept": True})
        assert (await next_of(c, "role"))["participant"]["role"] == "speaker"
        for member, ban in (("cody", True), ("pia", False)):
            page = Page(http, base, member, "member")
            pid = (await page.join())["you"]["id"]
            await h.send({"type": "remove", "participant": pid, "ban": ban})
            assert (await (await page.socket()).recv_type("error"))["code"] == "removed"

        # Kill -9 the owner.
        lease = await LeaseStore(redis, 3.0).holder(VIP)
        assert lease is not None
        owner = int(lease.node_id.removeprefix("node-"))
        local.nodes[owner].kill()
        killed = time.monotonic()

        async def back(page: Page) -> dict[str, Any]:
            ws = await page.socket()
            while not ws.ws.closed:  # the socket drops (or the relay says reconnect)
                try:
                    await ws.ws.receive(timeout=10)
                except TimeoutError:
                    break
            while True:
                try:
                    reply = await page.join()
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
                    continue
                if reply["type"] == "joined":
                    return reply
                await asyncio.sleep(0.1)  # a refusal while the cluster settles: retry

        replies = await asyncio.gather(back(host), back(cora), back(ada))
        elapsed = time.monotonic() - killed
        print(f"every page back {elapsed:.2f} s after the kill")
        assert elapsed < 5.0, f"every page back in {elapsed:.1f} s"
        new = await LeaseStore(redis, 3.0).holder(VIP)
        assert new is not None and new.node_id != lease.node_id and new.token > lease.token
        # Item by item, on the new owner.
        for reply in replies:
            state = reply["interactions"]
            assert [m["text"] for m in state["chat"]] == ["hello", "welcome"]
            [q] = state["questions"]
            assert (q["text"], q["votes"]) == ("Which sizes?", 1)
            [p] = state["polls"]
            assert (p["state"], p["question"]) == ("open", "Colour?")
            assert state["product"]["id"] == PRODUCT["id"]
        hr, cr, ar = replies
        assert hr["you"]["role"] == "host"
        assert (cr["you"]["role"], cr["resumed"]["code"]) == ("speaker", "resumed")
        assert (ar["you"]["role"], ar["resumed"]["code"]) == ("cohost", "resumed")
        assert ar["interactions"]["polls"][0]["counts"] == [0, 1]
        # The session's events, from both owners, are in the stream once each (by id).
        await (await cora.socket()).send({"type": "chat_send", "text": "after"})
        session = hr["interactions"]["session"]

        async def interactions() -> Counter[str]:
            seen: dict[str, str] = {}
            for _, fields in await redis.xrange(STREAM_KEY):
                event = decode(fields[STREAM_FIELD])
                if event.data.get("session") == session and event.kind in COUNTED:
                    seen[event.id] = str(event.kind)
            return Counter(seen.values())

        await eventually(interactions, until=lambda found: found == EXPECTED,
                         timeout=10, what="the session's interaction events")  # fmt: skip
        # The ban and the removal still hold.
        cody, pia = Page(http, base, "cody", "member"), Page(http, base, "pia", "member")
        assert (await cody.join())["code"] == "banned"
        refused = await pia.join()
        assert (refused["code"], refused["params"].get("case")) == ("removed", "this_session")
