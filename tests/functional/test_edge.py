"""Issue 9 at the WebSocket edge, against a real server on a real Redis: one bad line (or
frame) never takes a room down, and never writes a traceback to the log.

Each negative check sends a marker after the bad input and asserts on what arrived
before it, never on a quiet period.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from redis.asyncio import Redis

from server import operations as ops
from server.app import SERVICE
from server.engagement.members import MemberStore, member_key
from server.ids import MemberId, ParticipantId, RoomId
from tests.functional.conftest import PRODUCT, Person, Room, Socket, drain_presence, token

LONE = "x\ud800"


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Records at ERROR or above that carry a traceback (filled as the test runs)."""
    caplog.set_level(logging.INFO)
    found: list[logging.LogRecord] = []
    yield found
    found.extend(r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info)
    assert not found, [r.getMessage() for r in found]


async def until(ws: Socket, kind: str, **match: Any) -> list[dict[str, Any]]:
    """Every message up to and including the first ``kind`` whose fields match ``match``."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await ws.recv()
        seen.append(message)
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return seen


async def chat_reaches(sender: Person, text: str, *others: Person) -> None:
    await sender.send({"type": "chat_send", "text": text})
    for person in (sender, *others):
        lines = [m["text"] for m in await until(person, "chat", text=text) if m["type"] == "chat"]
        assert lines[-1] == text and all("\ud800" not in line for line in lines)


BAD_LINES: list[dict[str, Any]] = [
    {"type": "chat_send", "text": LONE},
    {"type": "question_ask", "text": LONE},
    {"type": "poll_create", "question": LONE, "options": ["a", "b"]},
    {"type": "poll_create", "question": "Which?", "options": ["a", LONE]},
    {**PRODUCT, "title": LONE},
    {**PRODUCT, "price": LONE},
]


async def test_a_lone_surrogate_is_refused_and_the_room_keeps_talking(
    room: Room, tracebacks: list[logging.LogRecord]
) -> None:
    """Defect 1: ``chat_send`` with ``x\\ud800`` killed every JSON recipient's writer and
    left later joiners without ``joined``; a question, poll or product did the same."""
    host = await room("host", role="host")
    cora = await room("cora")
    ada = await room("ada")
    await drain_presence(host, cora)
    for index, bad in enumerate(BAD_LINES):
        await host.send({**bad, "ref": f"bad{index}"})
        error = (await until(host, "error", ref=f"bad{index}"))[-1]
        assert (error["code"], error["reason"], error["char"]) == (
            "invalid_text",
            "bad_unicode",
            "U+D800",
        ), error
        assert error["field"] in error["message"]
        await chat_reaches(cora, f"after {index}", host, ada)
    late = await room("cody")
    assert [line["text"] for line in late.state["chat"]] == [f"after {i}" for i in range(6)]
    assert late.state["questions"] == [] and late.state["polls"] == []
    assert late.state["product"] is None


async def test_a_message_that_cannot_be_encoded_is_dropped_and_the_socket_lives(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer once died on the first message it could not encode: every later message
    to that socket was lost while the socket stayed open."""
    cora = await room("cora")
    ada = await room("ada")
    await drain_presence(cora)
    live = cora.client.app[SERVICE].live_rooms[RoomId("vip")]
    listener = live.listener(ParticipantId(cora.joined["you"]["id"]))
    assert listener is not None
    caplog.set_level(logging.INFO)
    no_json: Any = object()  # nothing in JSON for it
    listener.stream_changed(True, no_json)
    live.broadcast("odd", {"thing": object()})  # the shared frame cache cannot encode it
    live.broadcast("marker", {"n": 1})
    listener.stream_changed(False, None)
    seen = await until(cora, "stream")
    assert [m["type"] for m in seen] == ["marker", "stream"]
    assert (await until(ada, "marker"))[-1] == {"type": "marker", "n": 1}
    await chat_reaches(cora, "still here", ada)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and not any(r.exc_info for r in errors), errors


async def test_a_stored_name_that_is_not_utf8_does_not_break_the_room(
    room: Room, redis: Redis, tracebacks: list[logging.LogRecord]
) -> None:
    """A name stored before the text rules (a surrogate as WTF-8 bytes) must neither keep
    its member out nor break the frames that carry it to everyone else."""
    await ops.set_member(MemberStore(redis), "zoe", "core", "Zoe")
    await redis.hset(member_key(MemberId("zoe")), "name", b"Zo\xed\xa0\x80")
    cora = await room("cora")
    zoe = await room("zoe")
    assert zoe.joined["you"]["name"].startswith("Zo\ufffd")
    delta = await cora.recv_type("presence")
    while "zoe" not in [p["member_id"] for p in delta["joined"]]:  # cora's own may come first
        delta = await cora.recv_type("presence")
    assert next(p for p in delta["joined"] if p["member_id"] == "zoe")["name"].startswith(
        "Zo\ufffd"
    )
    await chat_reaches(zoe, "hello", cora)


@pytest.mark.parametrize("protocol", ["salon.v1.json", "salon.v1.msgpack"])
async def test_deep_nesting_is_bad_message_without_a_traceback(
    room: Room, protocol: str, tracebacks: list[logging.LogRecord]
) -> None:
    """Defect 3: ``[`` x 30,000 raised RecursionError, a 1 KB traceback per frame."""
    cora = await room("cora")
    ws = await cora.client.ws_connect("/ws", protocols=(protocol,))
    binary = protocol.endswith("msgpack")
    for _ in range(3):
        if binary:
            await ws.send_bytes(b"\x91" * 30000)
        else:
            await ws.send_str("[" * 30000)
        reply = await ws.receive(timeout=5)
        decoded = msgpack.unpackb(reply.data) if binary else reply.json()
        assert decoded["code"] == "bad_message"
    await ws.close()


async def test_one_encoding_per_socket(room: Room, tracebacks: list[logging.LogRecord]) -> None:
    """Info item: a JSON socket took msgpack frames and the reverse; now the other
    encoding gets ``wrong_encoding``, the frame is ignored and the socket stays usable."""
    cora = await room("cora")
    json_ws = await cora.client.ws_connect("/ws", protocols=("salon.v1.json",))
    await json_ws.send_bytes(msgpack.packb({"type": "join", "token": token("ada"), "ref": "j"}))
    await json_ws.send_str('{"type": "ping", "ref": "p1"}')
    assert (await json_ws.receive_json(timeout=5))["code"] == "wrong_encoding"
    assert await json_ws.receive_json(timeout=5) == {"type": "pong", "ref": "p1"}

    packed = await cora.client.ws_connect("/ws", protocols=("salon.v1.msgpack",))
    await packed.send_str('{"type": "ping"}')
    await packed.send_bytes(msgpack.packb({"type": "ping", "ref": "p2"}))
    first = await packed.receive(timeout=5)
    assert msgpack.unpackb(first.data)["code"] == "wrong_encoding"
    assert msgpack.unpackb((await packed.receive(timeout=5)).data) == {"type": "pong", "ref": "p2"}
    # Neither frame joined anyone: ada is not in the room.
    await chat_reaches(cora, "marker")
    assert [p["member_id"] for p in cora.joined["participants"]] == ["cora"]
    for ws in (json_ws, packed):
        await ws.close()


async def _browser_like_offer(kinds: tuple[str, ...]) -> tuple[Any, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in kinds:
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


@pytest.mark.media
async def test_bad_sdp_and_candidates_are_media_failed_without_a_traceback(
    room: Room, tracebacks: list[logging.LogRecord]
) -> None:
    """Defect 5: an audio section without ``a=mid`` and the candidate ``candidate:1 1 udp``
    got ``internal`` and tracebacks (aioice asserts on a short line)."""
    cora = await room("cora")
    pc, sdp = await _browser_like_offer(("audio", "video"))
    try:
        no_mid = re.sub(r"a=mid:[^\r\n]*\r\n", "", sdp)
        await cora.send({"type": "offer", "pc": "sub", "sdp": no_mid, "ref": "o1"})
        reply = (await until(cora, "error", ref="o1"))[-1]
        assert reply["code"] == "media_failed"
        await cora.send({"type": "offer", "pc": "sub", "sdp": sdp, "ref": "o2"})
        assert (await until(cora, "answer", ref="o2"))[-1]["pc"] == "sub"
        for index, line in enumerate(
            [
                "candidate:1 1 udp",
                "candidate:1 1 udp 1 127.0.0.1 99999 typ host",
                "candidate:1 1 udp 1 not-an-address 5000 typ host",
                "candidate:x 1 udp nope 127.0.0.1 5000 typ host",
            ]
        ):
            candidate = {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}
            await cora.send(
                {"type": "candidate", "pc": "sub", "candidate": candidate, "ref": f"c{index}"}
            )
            reply = (await until(cora, "error", ref=f"c{index}"))[-1]
            assert reply["code"] == "media_failed", reply
        await cora.send({"type": "ping", "ref": "still"})
        assert (await until(cora, "pong", ref="still"))[-1]["ref"] == "still"
    finally:
        await pc.close()
