"""Broadcasts reach each socket in coalesced writes (issue 17): fewer socket writes than
messages, every message still a WebSocket message of its own, in order, with replies
and outbox messages in their place.

Real server, real Redis, real WebSockets; the room's broadcasts are made in the server's
own loop (the test shares it), so that a burst happens within one loop iteration.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.app import SERVICE
from server.ids import ParticipantId, RoomId
from server.rooms.room import Room as LiveRoom
from tests.functional.conftest import Person, Room, before_marker, drain_presence

BURST = 50


async def _counts(client: TestClient[Any, Any]) -> tuple[float, float]:
    """``/metrics``' coalesced frames and writes so far."""
    text = await (await client.get("/metrics")).text()

    def value(name: str) -> float:
        found = re.search(rf"^{name}_total (\S+)$", text, re.MULTILINE)
        assert found is not None, f"{name} not in /metrics"
        return float(found.group(1))

    return value("salon_ws_frames_coalesced"), value("salon_ws_writes_coalesced")


def _live(person: Person) -> LiveRoom:
    return person.client.server.app[SERVICE].live_rooms[RoomId("vip")]


async def _people(room: Room, **overrides: Any) -> list[Person]:
    people = [await room("host", "host", **overrides)]
    people += [await room(member) for member in ("cora", "cody", "ada")]
    await drain_presence(*people)
    return people


async def test_a_burst_of_broadcasts_reaches_each_socket_in_order_in_few_writes(
    room: Room,
) -> None:
    people = await _people(room)
    frames_before, writes_before = await _counts(people[0].client)
    live = _live(people[0])
    for i in range(BURST):  # one loop iteration: no await in between
        live.broadcast("chat", {"id": f"c{i}", "text": f"line {i}"})
    for person in people:
        got = [m for m in await before_marker(person) if m["type"] == "chat"]
        assert [m["text"] for m in got] == [f"line {i}" for i in range(BURST)]
    frames, writes = await _counts(people[0].client)
    assert frames - frames_before >= BURST * len(people)
    # One write per socket for the burst (a presence delta may add one more).
    assert writes - writes_before <= 2 * len(people), (frames - frames_before, writes)


@pytest.mark.parametrize("window", [0.0, 0.005])
async def test_messages_queued_between_broadcasts_keep_their_place(
    room: Room, window: float
) -> None:
    """A message that goes through a socket's outbox (here the stream's state) between
    two bursts of broadcasts must reach the page between them: the frames held for the
    coalesced write go out before it, and the later burst after it."""
    people = await _people(room, **{"signaling.write_window": window})
    live = _live(people[0])
    for i in range(BURST):
        live.broadcast("chat", {"id": f"a{i}", "text": f"a{i}"})
    live.stream_changed(False, None)  # through each socket's outbox
    for i in range(BURST):
        live.broadcast("chat", {"id": f"b{i}", "text": f"b{i}"})
    expected = [f"a{i}" for i in range(BURST)] + ["stream"] + [f"b{i}" for i in range(BURST)]
    for person in people:
        got = [m for m in await before_marker(person) if m["type"] in ("chat", "stream")]
        assert [m["text"] if m["type"] == "chat" else m["type"] for m in got] == expected


@pytest.mark.parametrize("window", [0.0, 0.005])
async def test_a_close_follows_the_broadcasts_held_for_the_socket(
    room: Room, window: float
) -> None:
    """A socket closed by the server (here: its member joined again elsewhere) right after
    a burst must get the whole burst, then the error, then the close frame."""
    people = await _people(room, **{"signaling.write_window": window})
    live = _live(people[0])
    fan = people[1]
    listener = live.listener(ParticipantId(fan.joined["you"]["id"]))
    assert listener is not None
    for i in range(BURST):
        live.broadcast("chat", {"id": f"c{i}", "text": f"c{i}"})
    listener.replaced()
    got: list[str] = []
    while True:
        msg = await fan.ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        message = json.loads(msg.data)
        if message["type"] != "presence":
            got.append(message["text"] if message["type"] == "chat" else message["code"])
    assert got == [f"c{i}" for i in range(BURST)] + ["replaced"]
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
