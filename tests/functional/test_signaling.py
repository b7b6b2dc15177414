"""The WebSocket protocol against a real server and a real Redis: the gate, errors, presence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.devtools.redis_embed import free_port, start_redis
from server.engagement.events import STREAM_KEY, decode
from server.ids import MemberId, RoomId
from server.rooms.tokens import mint_token
from tests.functional.conftest import SECRET, Socket, make_settings, token
from tests.support.waiting import eventually

Connect = Callable[..., Awaitable[Socket]]


async def test_core_member_joins_and_sees_the_room(connect: Connect) -> None:
    ws = await connect()
    joined = await ws.join(token("cora"))
    assert joined["type"] == "joined"
    assert joined["room"] == {
        "id": "vip",
        "title": "VIP lounge",
        "tiers": ["core", "active"],
        "capacity": 3,
        "speaker_cap": 6,
        "speaker_cameras": False,
    }
    assert joined["you"]["member_id"] == "cora"
    assert joined["you"]["tier"] == "core"
    assert joined["you"]["role"] == "member"
    assert [p["member_id"] for p in joined["participants"]] == ["cora"]
    assert joined["live"] is False
    assert joined["ice_servers"] == []


@pytest.mark.parametrize(
    ("member", "room_tok", "code", "params"),
    [
        (
            "sid",
            "vip",
            "tier_too_low",
            {"room_title": "VIP lounge", "allowed": ["core", "active"], "tier": "silent"},
        ),
        ("nobody", "vip", "unknown_member", {"member": "nobody"}),
        ("cora", "other", "wrong_room", {"token_room": "other", "room": "vip"}),
    ],
)
async def test_refusals_name_the_reason_and_close(
    connect: Connect, member: str, room_tok: str, code: str, params: dict[str, Any]
) -> None:
    ws = await connect()
    reply = await ws.join(token(member, room_tok), room="vip")
    assert reply["type"] == "error"
    assert (reply["code"], reply["params"]) == (code, params)
    assert reply["message"]  # the server's English sentence, for old clients
    assert await ws.closed_with() == 4403


async def test_forged_and_expired_tokens_are_refused(connect: Connect) -> None:
    ws = await connect()
    reply = await ws.join(token("cora", secret="another-secret-that-is-long-enough"))
    assert reply["code"] == "token_invalid"
    ws = await connect()
    expired = mint_token(SECRET, MemberId("cora"), RoomId("vip"), ttl=60, now=time.time() - 120)
    reply = await ws.join(expired)
    assert (reply["code"], "expired") == ("token_expired", "expired")
    ws = await connect()
    reply = await ws.join("not.a.token")
    assert reply["code"] == "token_invalid"


async def test_invited_member_below_tier_enters(connect: Connect) -> None:
    ws = await connect()
    joined = await ws.join(token("pia"))
    assert joined["type"] == "joined"
    assert joined["you"]["tier"] == "potential"


async def test_room_full_refuses_the_next_member_but_not_the_host(connect: Connect) -> None:
    for member in ("cora", "cody", "ada"):
        assert (await (await connect()).join(token(member)))["type"] == "joined"
    ws = await connect()
    reply = await ws.join(token("pia"))
    assert reply["code"] == "room_full"
    assert reply["params"]["capacity"] == 3
    host = await connect()
    assert (await host.join(token("host", role="host")))["type"] == "joined"


async def test_presence_follows_joins_and_leaves(connect: Connect) -> None:
    first = await connect()
    await first.join(token("cora"))
    second = await connect()
    joined = await second.join(token("ada"))
    assert {p["member_id"] for p in joined["participants"]} == {"cora", "ada"}
    assert joined["count"] == 2
    event = await first.recv_type("presence")
    while "ada" not in [p["member_id"] for p in event["joined"]]:  # cora's own may come first
        event = await first.recv_type("presence")
    assert (event["count"], event["left"]) == (2, [])
    ada = next(p for p in event["joined"] if p["member_id"] == "ada")
    assert "tier" not in ada  # members see no one else's tier (issue 13)
    ada_id = ada["id"]
    await second.send({"type": "leave"})
    assert await second.closed_with() == 1000
    event = await first.recv_type("presence")
    assert (event["count"], event["joined"], event["left"]) == (1, [], [ada_id])


async def test_dropped_socket_is_cleaned_up(connect: Connect, client: TestClient[Any, Any]) -> None:
    first = await connect()
    await first.join(token("cora"))
    second = await connect()
    ada_id = (await second.join(token("ada")))["you"]["id"]
    while (await first.recv_type("presence"))["count"] != 2:
        pass
    await second.ws.close()
    event = await first.recv_type("presence")
    assert (event["count"], event["left"]) == (1, [ada_id])
    health = await (await client.get("/healthz")).json()
    assert health["rooms"] == 1


async def test_malformed_messages_get_errors_and_the_socket_stays_usable(connect: Connect) -> None:
    ws = await connect()
    await ws.ws.send_str("{not json")
    assert (await ws.recv())["code"] == "bad_message"
    await ws.send({"type": "dance", "ref": "r1"})
    reply = await ws.recv()
    assert (reply["code"], reply["ref"]) == ("unknown_type", "r1")
    await ws.send({"type": "offer", "pc": "sub", "sdp": "v=0"})
    assert (await ws.recv())["code"] == "not_joined"
    await ws.send({"type": "join"})
    assert (await ws.recv())["code"] == "invalid_field"
    await ws.send([1, 2, 3])  # type: ignore[arg-type]
    assert (await ws.recv())["code"] == "bad_message"
    assert (await ws.join(token("cora")))["type"] == "joined"
    await ws.send({"type": "join", "token": token("cora")})
    assert (await ws.recv())["code"] == "already_joined"
    await ws.send({"type": "offer", "pc": "side", "sdp": "x"})
    assert (await ws.recv())["code"] == "invalid_field"
    await ws.send({"type": "offer", "pc": "sub", "sdp": "garbage"})
    assert (await ws.recv())["code"] == "media_failed"
    await ws.send({"type": "candidate", "pc": "sub", "candidate": {"candidate": 5}})
    assert (await ws.recv())["code"] == "invalid_field"


async def test_member_may_not_publish(connect: Connect) -> None:
    ws = await connect()
    await ws.join(token("cora"))
    await ws.send({"type": "offer", "pc": "pub", "sdp": "v=0", "ref": "go"})
    reply = await ws.recv()
    assert (reply["code"], reply["ref"]) == ("forbidden", "go")


async def test_oversized_frame_closes_with_1009(connect: Connect) -> None:
    ws = await connect()
    await ws.join(token("cora"))
    await ws.ws.send_str("x" * (70 * 1024))
    assert await ws.closed_with() == 1009


async def test_second_connection_replaces_the_first(connect: Connect) -> None:
    first = await connect()
    await first.join(token("cora"))
    second = await connect()
    joined = await second.join(token("cora"))
    assert [p["member_id"] for p in joined["participants"]] == ["cora"]
    reply = await first.recv_type("error")
    assert reply["code"] == "replaced"
    assert await first.closed_with() == 4409


async def test_msgpack_subprotocol(connect: Connect) -> None:
    ws = await connect("salon.v1.msgpack")
    await ws.ws.send_bytes(msgpack.packb({"type": "join", "token": token("cora")}))
    msg = await ws.ws.receive(timeout=5)
    assert msgpack.unpackb(msg.data)["type"] == "joined"
    await ws.ws.send_bytes(b"\xc1")
    reply = msgpack.unpackb((await ws.ws.receive(timeout=5)).data)
    while reply["type"] == "presence":  # the delta with our own join may come first
        reply = msgpack.unpackb((await ws.ws.receive(timeout=5)).data)
    assert reply["code"] == "bad_message"


async def test_join_timeout(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: Any,
    seeded: Redis,
) -> None:
    settings = make_settings(redis_server.url, **{"signaling.join_timeout": 0.3})
    client = await aiohttp_client(create_app(settings))
    ws = Socket(await client.ws_connect("/ws"))
    assert (await ws.recv())["code"] == "join_timeout"
    assert await ws.closed_with() == 4408


async def test_join_and_leave_are_recorded_and_scored(connect: Connect, redis: Redis) -> None:
    ws = await connect()
    await ws.join(token("cora"))
    await asyncio.sleep(0.2)
    await ws.send({"type": "leave"})
    await ws.closed_with()

    async def recorded() -> list[Any]:
        return [decode(fields[b"e"]) for _, fields in await redis.xrange(STREAM_KEY)]

    events = await eventually(
        recorded, until=lambda found: len(found) >= 2, what="the join and leave events"
    )
    assert [(e.kind, e.member_id, e.room_id) for e in events] == [
        ("join", "cora", "vip"),
        ("leave", "cora", "vip"),
    ]
    assert events[1].data["watch_seconds"] >= 0.2
    score = await eventually(
        lambda: redis.hget("salon:{m:cora}:member", "score"),
        until=lambda found: found and float(found) > 1.0,
        what="cora's score above 1",
    )
    assert score is not None and float(score) > 1.0


async def test_redis_down_keeps_the_gate_shut(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """A join while Redis is unreachable is refused with 'unavailable', never admitted."""
    port = free_port()
    server = start_redis(port)
    settings = make_settings(server.url, **{"redis.timeout": 0.5})
    try:
        client = await aiohttp_client(create_app(settings))
        server.stop()
        ws = Socket(await client.ws_connect("/ws"))
        reply = await ws.join(token("cora"))
        assert reply["code"] == "unavailable"
        assert await ws.closed_with() == 4403
    finally:
        server.stop()


async def test_no_per_message_compression_even_when_asked(client: TestClient[Any, Any]) -> None:
    """Browsers ask for permessage-deflate; broadcasts would then be deflated per recipient."""
    ws = await client.ws_connect("/ws", protocols=("salon.v1.json",), compress=15)
    assert ws.compress == 0
    assert "Sec-WebSocket-Extensions" not in ws._response.headers
    await ws.close()
