"""Real aiortc peers publish into and subscribe from a room's relay over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaStreamTrack
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.ids import ParticipantId, RoomId
from server.rooms.media_ice import IcePolicy
from server.rooms.media_peers import RoomMedia
from server.settings import MediaSettings

pytestmark = pytest.mark.media


def loopback_policy(ports: tuple[int, int] = (0, 0)) -> tuple[IcePolicy, MediaSettings]:
    settings = MediaSettings(
        ice_addresses=("127.0.0.1",), rtp_port_min=ports[0], rtp_port_max=ports[1]
    )
    return IcePolicy.from_settings(settings), settings


class Peer:
    """A client-side aiortc peer, configured as a browser would be on loopback."""

    def __init__(self, policy: IcePolicy) -> None:
        from server.rooms.media_ice import configure_peer

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._policy = policy
        self._configure = configure_peer
        self.tracks: list[MediaStreamTrack] = []
        self.pc.on("track", self.tracks.append)

    async def negotiate(self, media: RoomMedia, who: str, name: str) -> None:
        # the client side too must offer a loopback candidate
        self._configure(self.pc, self._policy)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await media.answer(ParticipantId(who), name, self.pc.localDescription.sdp)  # type: ignore[arg-type]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


@pytest.fixture
async def room() -> AsyncIterator[tuple[RoomMedia, IcePolicy, list[Any]]]:
    policy, settings = loopback_policy()
    changes: list[Any] = []
    media = RoomMedia(RoomId("r1"), policy, settings, lambda live, who: changes.append((live, who)))
    yield media, policy, changes
    await media.close()


async def frames_received(track: MediaStreamTrack, count: int, timeout: float = 15) -> int:
    got = 0
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        await asyncio.wait_for(track.recv(), timeout)
        got += 1
    return got


async def publish_host(media: RoomMedia, policy: IcePolicy) -> Peer:
    """A host peer publishing aiortc's synthetic camera and microphone."""
    host = Peer(policy)
    host.pc.addTrack(VideoStreamTrack())
    host.pc.addTrack(AudioStreamTrack())
    await host.negotiate(media, "host", "pub")
    return host


async def subscribe(media: RoomMedia, policy: IcePolicy, who: str) -> Peer:
    """A member peer offering recvonly audio and video, as the room page does."""
    member = Peer(policy)
    member.pc.addTransceiver("audio", direction="recvonly")
    member.pc.addTransceiver("video", direction="recvonly")
    await member.negotiate(media, who, "sub")
    return member


async def test_subscriber_receives_host_frames_without_server_decoding(room: Any) -> None:
    media, policy, changes = room
    host = await publish_host(media, policy)
    member = await subscribe(media, policy, "m1")
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 20) == 20
    assert changes[0] == (True, "host")
    assert media.feeds["video"].frames_in >= 20
    for pc in (host.pc, member.pc):
        await pc.close()


async def test_late_subscriber_gets_a_keyframe_promptly(room: Any) -> None:
    """A member joining mid-stream must not wait for the encoder's next natural keyframe."""
    media, policy, _ = room
    host = await publish_host(media, policy)
    feed = media.feeds["video"]
    for _ in range(100):
        if feed.frames_in > 30:
            break
        await asyncio.sleep(0.1)
    assert feed.frames_in > 30, "the host's frames never reached the relay"
    requests_before = feed._keyframer.sent if feed._keyframer else 0
    started = time.monotonic()
    member = await subscribe(media, policy, "late")
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 5, timeout=5) == 5
    assert time.monotonic() - started < 5
    assert feed._keyframer is not None and feed._keyframer.sent > requests_before
    for pc in (host.pc, member.pc):
        await pc.close()


async def test_rtp_ports_stay_inside_the_configured_range() -> None:
    policy, settings = loopback_policy((41000, 41003))
    media = RoomMedia(RoomId("r2"), policy, settings, lambda live, who: None)
    try:
        ports = []
        for who in ("a", "b"):
            peer = await subscribe(media, loopback_policy()[0], who)
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


async def test_exhausted_port_range_fails_negotiation_cleanly() -> None:
    """With every port of the range taken the answer carries no candidate; nothing leaks."""
    import socket

    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    port = held.getsockname()[1]
    policy, settings = loopback_policy((port, port))
    media = RoomMedia(RoomId("r3"), policy, settings, lambda live, who: None)
    try:
        peer = await subscribe(media, loopback_policy()[0], "a")
        assert "a=candidate:" not in peer.pc.remoteDescription.sdp
        await peer.pc.close()
    finally:
        held.close()
        await media.close()


async def test_host_with_camera_only_goes_live(room: Any) -> None:
    """Regression: a host offering video and no audio got `media_failed` ("None is not in list")."""
    media, policy, changes = room
    host = Peer(policy)
    host.pc.addTrack(VideoStreamTrack())
    await host.negotiate(media, "host", "pub")
    member = await subscribe(media, policy, "m1")
    video = next(t for t in member.tracks if t.kind == "video")
    assert await frames_received(video, 5) == 5
    assert changes[0] == (True, "host")
    for pc in (host.pc, member.pc):
        await pc.close()
