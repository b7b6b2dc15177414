"""Broadcast frames are encoded once for all recipients, and never confused between events."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from server.engagement.members import Tier
from server.ids import MemberId, ParticipantId, RoomId
from server.media.ice import IcePolicy
from server.media.peers import RoomMedia
from server.rooms.bus import LocalRoomBus
from server.rooms.model import Participant, Role, RoomSpec
from server.rooms.room import Room
from server.rooms.room_state_memory import MemorySessionState
from server.settings import InteractionSettings, MediaSettings
from server.signaling.frames import FrameCache


def test_one_event_is_encoded_once_per_encoding() -> None:
    cache = FrameCache()
    event = {"text": "hi"}
    builds: list[int] = []

    def build() -> dict[str, Any]:
        builds.append(1)
        return {"type": "chat", **event}

    frames = [cache.frame(event, "chat", False, build) for _ in range(200)]
    assert len(builds) == 1
    assert all(f is frames[0] for f in frames)
    assert json.loads(frames[0]) == {"type": "chat", "text": "hi"}
    packed = cache.frame(event, "chat", True, build)
    assert msgpack.unpackb(packed) == {"type": "chat", "text": "hi"}
    assert len(builds) == 2


def test_equal_but_distinct_events_are_encoded_separately() -> None:
    """Two broadcasts with the same content are two events: no stale frame is reused."""
    cache = FrameCache(size=2)
    first, second = {"n": 1}, {"n": 1}
    cache.frame(first, "x", False, lambda: {"type": "x", **first})
    cache.frame(second, "x", False, lambda: {"type": "x", **second})
    assert (cache.hits, cache.misses) == (0, 2)


def test_recipients_of_both_views_in_turn_get_their_own_frame() -> None:
    """The last frame handed out is reused only for the same event, view and encoding."""
    cache = FrameCache()
    event = {"n": 1}
    views = ("x", "x/members", "x", "x/members", "x/members")

    def view(tag: str) -> str | bytes | None:
        return cache.frame(event, tag, False, lambda: {"type": tag, **event})

    frames = [view(tag) for tag in views]
    assert [json.loads(f)["type"] for f in frames if isinstance(f, str)] == list(views)
    assert cache.misses == 2
    packed = cache.frame(event, "x/members", True, lambda: {"type": "packed"})
    assert isinstance(packed, bytes) and msgpack.unpackb(packed) == {"type": "packed"}


def test_the_cache_is_bounded_and_holds_its_sources() -> None:
    cache = FrameCache(size=3)
    for n in range(10):
        source = {"n": n}
        frame = cache.frame(source, "x", False, lambda s=source: {"type": "x", **s})
        assert json.loads(frame)["n"] == n
    assert len(cache._entries) == 3


async def test_room_broadcast_gives_every_listener_the_same_private_copy() -> None:
    received: list[dict[str, Any]] = []

    class Listener:
        """Just enough of a session to watch what the room hands out."""

        def room_event(self, kind: str, payload: dict[str, Any]) -> None:
            received.append(payload)

    settings = MediaSettings()
    media = RoomMedia(RoomId("r"), IcePolicy.from_settings(settings), settings, lambda *_: None)
    session = MemorySessionState("r", InteractionSettings(), 0)
    room = Room(RoomSpec(RoomId("r"), "R", (Tier.CORE,)), media, session, LocalRoomBus())
    for n in range(3):
        who = Participant(ParticipantId(f"p{n}"), MemberId(f"m{n}"), "M", Role.MEMBER, None, 0.0)
        room.add(who, Listener())  # type: ignore[arg-type]
    payload = {"text": "hello"}
    room.broadcast("chat", payload)
    assert len(received) == 3
    assert all(r is received[0] for r in received)
    assert received[0] == payload and received[0] is not payload
    await room.close()
    await media.close()
