"""``/metrics``' media counters over a real server, real Redis and real aiortc peers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.app import SERVICE
from server.media.ice import IcePolicy, configure_peer
from server.settings import MediaSettings
from tests.functional.conftest import Socket, token
from tests.support.waiting import eventually

pytestmark = pytest.mark.media

Connect = Callable[..., Awaitable[Socket]]


async def metric(client: TestClient[Any, Any], name: str) -> float:
    text = await (await client.get("/metrics")).text()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


async def negotiate(ws: Socket, pc: RTCPeerConnection, name: str, ref: str) -> None:
    configure_peer(pc, IcePolicy.from_settings(MediaSettings(ice_addresses=("127.0.0.1",))))
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send({"type": "offer", "pc": name, "sdp": pc.localDescription.sdp, "ref": ref})
    while (reply := await ws.recv(timeout=10))["type"] != "answer":
        assert reply["type"] != "error", reply
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))


async def until_metric(client: TestClient[Any, Any], name: str, above: float) -> float:
    value: float = await eventually(
        lambda: metric(client, name), until=lambda v: v > above, what=f"{name} above {above}"
    )
    return value


async def test_media_counters_do_not_fall_when_a_room_closes(
    client: TestClient[Any, Any], connect: Connect
) -> None:
    """Issue 10 finding 8a: the media counters were sums over live rooms, so closing a
    room made them fall, which Prometheus reads as a counter reset."""
    host_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    member_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        host = await connect()
        assert (await host.join(token("host", role="host")))["type"] == "joined"
        member = await connect()
        assert (await member.join(token("cora")))["type"] == "joined"
        host_pc.addTrack(VideoStreamTrack())
        host_pc.addTrack(AudioStreamTrack())
        await negotiate(host, host_pc, "pub", "p")
        member_pc.addTransceiver("audio", direction="recvonly")
        member_pc.addTransceiver("video", direction="recvonly")
        await negotiate(member, member_pc, "sub", "s")
        forwarded = await until_metric(client, "salon_media_forwarded_packets_total", 20)
        frames_in = await metric(client, "salon_media_frames_in_total")
        assert await metric(client, "salon_rooms") == 1
        # Both sockets drop and the room closes. Regression: a dropped socket cancelled its
        # session while leaving, so a room left empty stayed open forever.
        await host.ws.close()
        await member.ws.close()
        service = client.server.app[SERVICE]
        await eventually(
            lambda: service.live_rooms, until=lambda live: not live, what="room closed"
        )
        assert await metric(client, "salon_rooms") == 0  # the room closed...
        # ...and what it forwarded still counts.
        assert await metric(client, "salon_media_forwarded_packets_total") >= forwarded
        assert await metric(client, "salon_media_frames_in_total") >= frames_in
        assert await metric(client, "salon_media_forwarded_bytes_total") > 0
        assert await metric(client, "salon_media_task_failures_total") == 0
    finally:
        await host_pc.close()
        await member_pc.close()
