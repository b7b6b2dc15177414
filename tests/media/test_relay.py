"""Real aiortc peers publish into and subscribe from a room's relay over loopback, on both
forwarding paths."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc.mediastreams import VideoStreamTrack

from server.ids import RoomId
from server.media.ice import IcePolicy
from server.media.peers import RoomMedia
from tests.media.conftest import Closing
from tests.media.peers import Peer, frames_received, loopback_policy, publish_host, subscribe
from tests.support.waiting import eventually

pytestmark = pytest.mark.media


@pytest.fixture(params=["packets", "frames"])
async def room(request: Any) -> AsyncIterator[tuple[RoomMedia, IcePolicy, list[Any]]]:
    """A room forwarding packets (the default) or, for the benchmark's baseline, frames."""
    policy, settings = loopback_policy(forwarding=request.param)
    changes: list[Any] = []
    media = RoomMedia(RoomId("r1"), policy, settings, lambda live, who: changes.append((live, who)))
    yield media, policy, changes
    await media.close()


async def test_subscriber_receives_host_frames_without_server_decoding(
    room: Any, closing: Closing
) -> None:
    media, policy, changes = room
    closing(await publish_host(media, policy))
    member = closing(await subscribe(media, policy, "m1"))
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 20) == 20
    assert changes[0] == (True, "host")
    assert media.feeds["video"].frames_in >= 20


async def test_late_subscriber_gets_a_keyframe_promptly(room: Any, closing: Closing) -> None:
    """A member joining mid-stream must not wait for the encoder's next natural keyframe."""
    media, policy, _ = room
    closing(await publish_host(media, policy))
    feed = media.feeds["video"]
    await eventually(lambda: feed.frames_in > 30, what="the host's frames at the relay")
    requests_before = feed._keyframer.sent if feed._keyframer else 0
    started = time.monotonic()
    member = closing(await subscribe(media, policy, "late"))
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 5, timeout=5) == 5
    assert time.monotonic() - started < 5
    assert feed._keyframer is not None and feed._keyframer.sent > requests_before


async def test_rtp_ports_stay_inside_the_configured_range(closing: Closing) -> None:
    policy, settings = loopback_policy((41000, 41003))
    media = RoomMedia(RoomId("r2"), policy, settings, lambda live, who: None)
    try:
        ports = []
        for who in ("a", "b"):
            peer = closing(await subscribe(media, loopback_policy()[0], who))
            remote = peer.pc.remoteDescription.sdp
            ports += [
                int(line.split()[5])
                for line in remote.splitlines()
                if line.startswith("a=candidate:")
            ]
            await peer.pc.close()
        assert ports and all(41000 <= p <= 41003 for p in ports), ports
        assert all(
            "127.0.0.1" in line for line in remote.splitlines() if line.startswith("a=candidate:")
        )
    finally:
        await media.close()


async def test_exhausted_port_range_fails_negotiation_cleanly(closing: Closing) -> None:
    """With every port of the range taken the answer carries no candidate; nothing leaks."""
    import socket

    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    port = held.getsockname()[1]
    policy, settings = loopback_policy((port, port))
    media = RoomMedia(RoomId("r3"), policy, settings, lambda live, who: None)
    try:
        peer = closing(await subscribe(media, loopback_policy()[0], "a"))
        assert "a=candidate:" not in peer.pc.remoteDescription.sdp
    finally:
        held.close()
        await media.close()


async def test_host_with_camera_only_goes_live(room: Any, closing: Closing) -> None:
    """Regression: a host offering video and no audio got `media_failed` ("None is not in list")."""
    media, policy, changes = room
    host = closing(Peer(policy))
    host.pc.addTrack(VideoStreamTrack())
    await host.negotiate(media, "host", "pub")
    member = closing(await subscribe(media, policy, "m1"))
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 5) == 5
    assert changes[0] == (True, "host")
