"""Interactions as engagement events, over msgpack, and over the room's lifetime: state
that goes with the room, co-hosts appointed mid-session, and Redis going away."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import RECORDER, SERVICE, create_app
from server.ids import RoomId
from tests.functional.conftest import (
    PRODUCT,
    RELAXED,
    Room,
    Socket,
    ask,
    drain_presence,
    interaction_events,
    make_settings,
    stream_events,
    token,
)
from tests.support.waiting import eventually

# --- events, encodings, lifetime ---------------------------------------------------------


async def test_every_interaction_is_recorded_as_an_event(room: Room, redis: Redis) -> None:
    host = await room("host", "host", **{"interactions.flush_interval": 0.05})
    cora, ada = await room("cora"), await room("ada")
    session = cora.state["session"]
    await cora.send({"type": "chat_send", "text": "hello"})
    chat = await host.recv_type("chat")
    await host.send({"type": "chat_delete", "id": chat["id"]})
    await ada.recv_type("chat_deleted")  # the deletion is done before her reaction
    await ada.send({"type": "reaction", "emoji": "clap"})
    question = await ask(cora, "why?")
    await ada.send({"type": "question_upvote", "id": question["id"]})
    await ada.recv_type("question_voted")
    await ada.send({"type": "question_unvote", "id": question["id"]})
    await ada.recv_type("question_voted")
    for verb in ("question_pin", "question_answer", "question_dismiss"):
        await host.send({"type": verb, "id": question["id"]})
    await host.recv_type("question_removed")
    await host.send({"type": "poll_create", "question": "?", "options": ["a", "b"]})
    poll = (await cora.recv_type("poll"))["poll"]
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 0})
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 1})
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 1})  # no change
    for _ in range(3):  # her votes are in before the host's close (two sockets: no order)
        await cora.recv_type("poll_voted")
    await host.send({"type": "poll_close", "id": poll["id"]})
    await cora.recv_type("poll")
    await host.send(PRODUCT)
    await cora.recv_type("product")
    await cora.send({"type": "product_click", "id": "bag-1"})
    await host.recv_type("product_stats")

    expected = [
        ("chat", "cora", "send"),
        ("chat", "host", "delete"),
        ("reaction", "ada", None),
        ("question", "cora", "ask"),
        ("upvote", "ada", "add"),
        ("upvote", "ada", "remove"),
        ("question", "host", "pin"),
        ("question", "host", "answer"),
        ("question", "host", "dismiss"),
        ("poll_vote", "host", "create"),
        ("poll_vote", "cora", "vote"),
        ("poll_vote", "cora", "change"),
        ("poll_vote", "host", "close"),
        ("product_click", "host", "pin"),
        ("product_click", "cora", "click"),
    ]
    events = interaction_events(await stream_events(redis, len(expected) + 3))
    assert [(e.kind.value, e.member_id, e.data.get("action")) for e in events] == expected
    now = time.time() * 1000
    for event in events:
        assert event.room_id == "vip"
        assert event.data["session"] == session
        assert now - 10_000 < event.ts_ms <= now
    assert events[0].data["length"] == 5
    assert events[2].data["emoji"] == "clap"
    assert events[4].data["author"] == "cora"
    assert events[11].data == {**events[11].data, "option": 1, "previous": 0}
    assert events[12].data["counts"] == [0, 1]
    assert events[6].data["role"] == "host" and events[3].data["role"] == "member"


async def test_interactions_speak_msgpack_too(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    client = await serve()
    ws = await client.ws_connect("/ws", protocols=("salon.v1.msgpack",))
    await ws.send_bytes(msgpack.packb({"type": "join", "token": token("cora"), "room": "vip"}))
    joined = msgpack.unpackb((await ws.receive(timeout=5)).data)
    assert joined["interactions"]["chat"] == []
    await ws.send_bytes(msgpack.packb({"type": "chat_send", "text": "packed"}))
    message = msgpack.unpackb((await ws.receive(timeout=5)).data)
    while message["type"] == "presence":  # the delta with our own join may come first
        message = msgpack.unpackb((await ws.receive(timeout=5)).data)
    assert (message["type"], message["text"]) == ("chat", "packed")
    await ws.close()


async def test_room_state_goes_when_the_room_closes(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """The room owns its session: when the last one leaves, the room closes and its session
    ends with it (this replaced a test that polled ``gc.collect()`` for a weak map)."""
    client = await serve(**{"interactions.flush_interval": 0.05})
    ws = Socket(await client.ws_connect("/ws"))
    first = await ws.join(token("cora"))
    service = client.server.app[SERVICE]
    room = service.live_rooms[RoomId("vip")]
    assert room.session.session_id == first["interactions"]["session"]
    assert not room.session.closed and room.bus.subscribers("vip") == 1
    await ws.send({"type": "reaction", "emoji": "heart"})
    await ws.send({"type": "chat_send", "text": "bye"})
    await ws.recv_type("reactions")
    await ws.send({"type": "leave"})
    await ws.closed_with()
    await eventually(lambda: room.session.closed, timeout=2, what="the room's session closed")
    assert not service.live_rooms and room.bus.subscribers("vip") == 0
    assert not room.updates.pending
    # A new session starts afresh: no chat, a new session id.
    ws = Socket(await client.ws_connect("/ws"))
    again = await ws.join(token("cora"))
    assert again["interactions"]["chat"] == []
    assert again["interactions"]["session"] != first["interactions"]["session"]


async def test_a_cohost_moderates_once_appointed(room: Room) -> None:
    """The role is read at each message: a member made co-host may moderate at once."""
    host, cora, ada = await room("host", "host"), await room("cora"), await room("ada")
    await drain_presence(host, cora)
    await ada.send({"type": "chat_send", "text": "off topic"})
    line = await cora.recv_type("chat")
    await cora.send({"type": "chat_delete", "id": line["id"]})
    assert (await cora.recv_type("error"))["code"] == "forbidden"
    await host.send({"type": "make_cohost", "participant": cora.joined["you"]["id"]})
    role = await cora.recv_type("role")
    assert role["participant"]["role"] == "cohost"
    await cora.send({"type": "chat_delete", "id": line["id"]})
    assert (await ada.recv_type("chat_deleted"))["id"] == line["id"]
    await cora.send({"type": "poll_create", "question": "Co-host poll?", "options": ["y", "n"]})
    assert (await ada.recv_type("poll"))["poll"]["question"] == "Co-host poll?"


async def test_the_room_keeps_going_when_redis_is_gone(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """Nobody waits for Redis; events wait in the recorder and are written once it is back."""
    from server import operations as ops
    from server.devtools.redis_embed import free_port, start_redis
    from server.engagement.members import MemberStore
    from server.rooms.store import RoomStore

    port = free_port()
    redis_server = start_redis(port)
    try:
        seed = Redis.from_url(redis_server.url)
        await ops.set_member(MemberStore(seed), "cora", "core", "Cora")
        await ops.set_member(MemberStore(seed), "ada", "active", "Ada")
        await ops.create_room(RoomStore(seed), "vip", "VIP", "core,active")
        await seed.aclose()
        settings = make_settings(redis_server.url, **{**RELAXED, "redis.timeout": 0.3})
        client = await aiohttp_client(create_app(settings))
        cora, ada = Socket(await client.ws_connect("/ws")), Socket(await client.ws_connect("/ws"))
        await cora.join(token("cora"))
        await ada.join(token("ada"))
        host = Socket(await client.ws_connect("/ws"))
        await host.join(token("host", role="host"))
        redis_server.stop()

        started = time.monotonic()
        await cora.send({"type": "chat_send", "text": "still here?"})
        assert (await ada.recv_type("chat"))["text"] == "still here?"
        await host.send(PRODUCT)
        await ada.recv_type("product")
        await ada.send({"type": "product_click", "id": "bag-1"})
        question = await ask(ada, "and now?")
        await cora.send({"type": "question_upvote", "id": question["id"]})
        assert (await cora.recv_type("question_voted"))["votes"] == 1
        assert time.monotonic() - started < 1.0
        recorder = client.server.app[RECORDER]
        assert recorder.depth >= 5  # chat, pin, click, question, upvote: kept, not lost

        redis_server = start_redis(port)  # back, empty: only what waited gets written
        again = Redis.from_url(redis_server.url)
        try:
            events = interaction_events(await stream_events(again, 5, timeout=10))
        finally:
            await again.aclose()
        assert [(e.kind.value, e.member_id) for e in events] == [
            ("chat", "cora"),
            ("product_click", "host"),
            ("product_click", "ada"),
            ("question", "ada"),
            ("upvote", "cora"),
        ]
        await client.close()  # while Redis is up: the leave events get written at once
    finally:
        redis_server.stop()
