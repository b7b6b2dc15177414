"""A live room is owned by one node (issue 11): its lease is taken when the room opens,
renewed while it is live, released when it closes; a node whose lease is taken from it
stops serving the room at once and writes nothing more to its session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from server.cluster.leases import LeaseStore
from server.cluster.ownership import Ownership
from server.cluster.registry import NodeRegistry
from server.cluster.routing import relay_header, relayed_by
from server.ids import RoomId
from server.redis_client import RedisClient
from server.redis_client import connect as connect_redis
from tests.cluster.nodes_support import Node, StartNode, close_frame, http, start_node
from tests.functional.conftest import Restartable, Socket, drain_presence, own_redis, token

__all__ = ["http", "own_redis", "start_node"]  # fixtures, registered by import here
VIP = RoomId("vip")


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def test_an_open_room_holds_its_lease_renews_it_and_releases_it_when_it_closes(
    start_node: StartNode, http: aiohttp.ClientSession, redis: RedisClient
) -> None:
    a = await start_node("a")
    leases = LeaseStore(redis, 1.0)
    assert await leases.holder(VIP) is None
    host = await a.socket(http)
    assert (await host.join(token("host", role="host")))["type"] == "joined"
    first = await leases.holder(VIP)
    assert first is not None and first.node_id == "a"
    # Two lease lifetimes later it is still a's, same token: renewed, never lost.
    await asyncio.sleep(2 * a.settings.node.lease_ttl)
    assert await leases.holder(VIP) == first
    assert VIP in a.service.live_rooms
    await host.send({"type": "leave"})

    async def released() -> bool:
        return await leases.holder(VIP) is None and VIP not in a.service.live_rooms

    await until(released)


async def test_a_node_whose_lease_is_taken_stops_serving_the_room_at_once(
    start_node: StartNode, http: aiohttp.ClientSession, redis: RedisClient
) -> None:
    a = await start_node("a")
    cora, ada = await a.socket(http), await a.socket(http)
    assert (await cora.join(token("cora")))["type"] == "joined"
    assert (await ada.join(token("ada")))["type"] == "joined"
    await drain_presence(cora, ada)
    await cora.send({"type": "chat_send", "text": "before"})
    await ada.recv_type("chat")
    places_before = await a.service.live_rooms[VIP].session.places_taken()
    # Another node takes the room (a was paused past its lease, say).
    leases = LeaseStore(redis, 30.0)
    await redis.delete("salon:{r:vip}:lease")
    thief = await leases.acquire(VIP, "thief")
    started = time.monotonic()
    for ws in (cora, ada):
        told = await ws.recv_type("reconnect", timeout=3)
        assert told["code"] == "room_moved"
        assert await ws.closed_with() == 1012
    assert time.monotonic() - started < 1.5, "stopped within one renewal"
    assert VIP not in a.service.live_rooms
    # a wrote nothing after it lost the room: the session, its places and its chat are
    # as they were, for the new owner.
    assert await leases.holder(VIP) == thief
    b = await start_node("b")
    await redis.delete("salon:{r:vip}:lease")
    sid = await b.socket(http)
    joined = await sid.join(token("cody"))
    assert joined["type"] == "joined", joined
    assert [m["text"] for m in joined["interactions"]["chat"]] == ["before"]
    assert await b.service.live_rooms[VIP].session.places_taken() == places_before + 1


async def test_a_join_through_another_node_is_relayed_to_the_owner_and_chat_crosses(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    a, b = await start_node("a"), await start_node("b")
    host = await a.socket(http)
    assert (await host.join(token("host", role="host")))["type"] == "joined"
    cora = await b.socket(http)  # the load balancer handed her to b
    joined = await cora.join(token("cora"))
    assert joined["type"] == "joined", joined
    assert VIP not in b.service.live_rooms, "b relays; only a serves the room"
    assert {p.member_id for p in a.service.live_rooms[VIP].participants} == {"host", "cora"}
    await drain_presence(host, cora)
    await cora.send({"type": "chat_send", "text": "from b"})
    assert (await host.recv_type("chat"))["text"] == "from b"
    assert (await cora.recv_type("chat"))["text"] == "from b"  # her own, back through a
    await host.send({"type": "chat_send", "text": "from a"})
    assert (await cora.recv_type("chat"))["text"] == "from a"
    # A close from the owner passes through the relay with its code: a second window of
    # cora's replaces this one (4409).
    again = await a.socket(http)
    assert (await again.join(token("cora")))["type"] == "joined"
    assert await close_frame(cora) == 4409


def test_a_relay_header_is_trusted_only_when_signed_with_the_secret_and_fresh() -> None:
    secret = "s3cret"
    good = relay_header(secret, "node-1")
    assert relayed_by(secret, good) == "node-1"
    assert relayed_by("other", good) is None, "signed with another secret"
    forged = good.replace("node-1", "node-2", 1)
    assert relayed_by(secret, forged) is None
    stale = relay_header(secret, "node-1", at=int(time.time()) - 3600)
    assert relayed_by(secret, stale) is None
    for bad in ("", "x", "a.b.c", "node-1.notanumber.abc"):
        assert relayed_by(secret, bad) is None


async def speaker_on(host: Socket, page: Socket, pid: str) -> None:
    await host.send({"type": "stage_invite", "participant": pid})
    await page.recv_type("stage_self")
    await page.send({"type": "stage_reply", "accept": True})
    assert (await page.recv_type("role"))["participant"]["role"] == "speaker"


async def rejoin(node: Node, http: aiohttp.ClientSession, member: str, role: str,
                 resume: str) -> dict[str, Any]:  # fmt: skip
    ws = await node.socket(http)
    await ws.send({"type": "join", "token": token(member, role=role), "resume": resume})
    reply = await ws.recv(timeout=10)
    assert reply["type"] == "joined", reply
    return reply


async def test_drain_hands_a_live_room_to_another_node_with_its_seats(
    start_node: StartNode, http: aiohttp.ClientSession, redis: RedisClient
) -> None:
    a, b = await start_node("a"), await start_node("b")
    host, cora = await a.socket(http), await a.socket(http)
    hj = await host.join(token("host", role="host"))
    cj = await cora.join(token("cora"))
    await speaker_on(host, cora, cj["you"]["id"])
    await cora.send({"type": "chat_send", "text": "before the drain"})
    await host.recv_type("chat")
    first = await LeaseStore(redis, 1.0).holder(VIP)
    assert first is not None and first.node_id == "a"

    await NodeRegistry(redis, 1.5).drain("a")  # salon nodes drain a
    for ws in (host, cora):
        assert (await ws.recv_type("reconnect", timeout=5))["code"] == "room_moved"
        assert await close_frame(ws) == 1012
    assert VIP not in a.service.live_rooms
    # The pages come back through the load balancer, here to a again: a, draining, opens
    # no room and relays them to the node placement picks, which takes the room over.
    back = await rejoin(a, http, "cora", "member", cj["resume_token"])
    assert (back["you"]["role"], back["resumed"]["code"]) == ("speaker", "resumed")
    assert [m["text"] for m in back["interactions"]["chat"]] == ["before the drain"]
    hb = await rejoin(a, http, "host", "host", hj["resume_token"])
    assert hb["you"]["role"] == "host"
    assert VIP in b.service.live_rooms and VIP not in a.service.live_rooms
    second = await LeaseStore(redis, 1.0).holder(VIP)
    assert second is not None and second.node_id == "b" and second.token > first.token


async def test_an_orderly_stop_hands_its_rooms_over_instead_of_ending_them(
    start_node: StartNode, http: aiohttp.ClientSession, redis: RedisClient
) -> None:
    a, b = await start_node("a"), await start_node("b")
    host, cora = await a.socket(http), await a.socket(http)
    await host.join(token("host", role="host"))
    cj = await cora.join(token("cora"))
    await speaker_on(host, cora, cj["you"]["id"])
    session = a.service.live_rooms[VIP].session_id
    stopping = asyncio.ensure_future(a.server.close())  # SIGTERM's path: on_shutdown
    assert (await cora.recv_type("reconnect", timeout=5))["code"] == "room_moved"
    back = await rejoin(b, http, "cora", "member", cj["resume_token"])
    await stopping
    assert (back["you"]["role"], back["resumed"]["code"]) == ("speaker", "resumed")
    assert back["interactions"]["session"] == session, "the same session goes on"


async def test_a_refused_first_join_on_a_taking_over_node_leaves_no_room_open(
    start_node: StartNode, http: aiohttp.ClientSession, redis: RedisClient
) -> None:
    """Regression: in cluster mode the room opens before the last checks, so a removed
    member reconnecting first after a take-over got in (the removal was read before the
    session was known), and a refused join left the room open, its lease held, empty."""
    a = await start_node("a")
    host, pia = await a.socket(http), await a.socket(http)
    session = (await host.join(token("host", role="host")))["interactions"]["session"]
    pid = (await pia.join(token("pia")))["you"]["id"]
    await host.send({"type": "remove", "participant": pid})
    assert (await pia.recv_type("error"))["code"] == "removed"
    # a dies (no more renewals, its lease gone); b is the first to see the room again.
    assert a.service.ownership is not None
    await a.service.ownership.stop()
    await redis.delete("salon:{r:vip}:lease")
    b = await start_node("b")
    leases = LeaseStore(redis, 2.0)
    for member, code in (("pia", "removed"), ("sid", "tier_too_low")):
        ws = await b.socket(http)
        refused = await ws.join(token(member))
        assert (refused["type"], refused["code"]) == ("error", code), refused

        async def closed() -> bool:
            return VIP not in b.service.live_rooms and await leases.holder(VIP) is None

        await until(closed)
    # The refusals did not end the session: the next member enters the same one.
    cora = await b.socket(http)
    joined = await cora.join(token("cora"))
    assert joined["interactions"]["session"] == session, joined


async def test_a_node_that_cannot_renew_for_a_whole_ttl_gives_the_room_up(
    own_redis: Restartable,
) -> None:
    """Redis away: a renewal failing once is retried, but after a whole TTL without one
    the lease may have run out (another node may own the room): the room is lost."""
    server = await own_redis.up()
    client = connect_redis(server.url, 0.3)
    lost: list[RoomId] = []
    owner = Ownership(LeaseStore(client, 1.0), "a", 1.0, 0.2, lost.append)
    try:
        await owner.take(VIP, wait=0)
        await owner.renew_all()
        assert owner.holds(VIP) and lost == []
        await own_redis.down()
        await owner.renew_all()  # fails: too soon to give up
        assert owner.holds(VIP) and lost == []

        async def given_up() -> bool:
            await owner.renew_all()
            return lost == [VIP]

        await until(given_up, timeout=5)
        assert not owner.holds(VIP)
    finally:
        await client.aclose()


async def test_a_relayed_page_whose_owner_vanishes_is_told_to_reconnect_at_once(
    start_node: StartNode, http: aiohttp.ClientSession
) -> None:
    """The owner's connections drop without a close (as when it is killed): the relaying
    node tells its page ``reconnect`` (``room_moved``) and closes 1012, so that the page
    comes back at once rather than after its back-off."""
    a, b = await start_node("a"), await start_node("b")
    host = await a.socket(http)
    await host.join(token("host", role="host"))
    cora = await b.socket(http)
    assert (await cora.join(token("cora")))["type"] == "joined"
    assert VIP not in b.service.live_rooms
    runner = a.server.runner
    assert runner is not None and runner.server is not None
    for handler in list(runner.server.connections):
        assert handler.transport is not None
        handler.transport.abort()  # every connection of a's, the relay's included
    told = await cora.recv_type("reconnect", timeout=5)
    assert (told["code"], told["retry_after"]) == ("room_moved", 0.05)
    assert await close_frame(cora) == 1012
