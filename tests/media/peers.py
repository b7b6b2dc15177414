"""Client-side aiortc peers for media tests: a loopback policy, a peer that offers as the
room page does, a host publishing aiortc's synthetic camera and microphone, a member
subscribing, and a bare publisher/receiver pair (``connect``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaStreamTrack
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.ids import ParticipantId
from server.media.ice import IcePolicy, configure_peer
from server.media.peers import RoomMedia
from server.settings import MediaSettings


def loopback_policy(
    ports: tuple[int, int] = (0, 0), forwarding: str = "packets"
) -> tuple[IcePolicy, MediaSettings]:
    settings = MediaSettings(
        ice_addresses=("127.0.0.1",),
        rtp_port_min=ports[0],
        rtp_port_max=ports[1],
        forwarding=forwarding,
    )
    return IcePolicy.from_settings(settings), settings


class Peer:
    """A client-side aiortc peer, configured as a browser would be on loopback."""

    def __init__(self, policy: IcePolicy) -> None:
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


async def connect(
    policy: IcePolicy, sender_track: Any, before: Any = None
) -> tuple[RTCPeerConnection, ...]:
    """A publisher peer sending ``sender_track`` to a receiving peer, both on loopback;
    ``before(sender)`` runs before negotiation."""
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = a.addTransceiver(sender_track, direction="sendonly")
    if before is not None:
        before(transceiver.sender)
    configure_peer(a, policy)
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    configure_peer(b, policy)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    return a, b
