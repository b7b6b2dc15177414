"""A recorded session handed over between nodes is one replay (issue 11).

Regression: after a cluster hand-over the new owner did not record its part of a session
whose recording was on (it found the first part's file and kept it alone). Two real nodes
on the real Redis Cluster, sharing ``replay.dir``; a real aiortc host publishes on the
first, the first is drained, the host comes back to the second and publishes again, then
ends the session: the replay's one WebM holds both parts, one after the other, and the
timeline's chat lines sit in the right part.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.cluster.registry import NodeRegistry
from server.ids import RoomId
from server.redis_client import RedisClient
from tests.cluster.nodes_support import Node, StartNode, close_frame, http, start_node
from tests.functional.conftest import ADMIN_KEY, Socket, token
from tests.functional.test_media_metrics import negotiate
from tests.support.waiting import eventually

__all__ = ["http", "start_node"]  # fixtures
pytestmark = pytest.mark.media

VIP = RoomId("vip")
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Video frames each owner gets before the next step (about two seconds at 30 fps).
FRAMES = 60


async def recording(node: Node, http: aiohttp.ClientSession) -> bool:
    async with http.get(f"{node.url}/api/rooms/vip/recording", headers=AUTH) as answer:
        return bool((await answer.json())["recording"])


async def publish_part(
    node: Node, http: aiohttp.ClientSession, host: Socket, pc: RTCPeerConnection, line: str
) -> float:
    """``host`` publishes on ``node`` until it recorded ``FRAMES`` frames and ``line`` was
    said: the recording's start, on the monotonic clock."""
    pc.addTrack(VideoStreamTrack())
    pc.addTrack(AudioStreamTrack())
    await negotiate(host, pc, "pub", "p")
    await eventually(lambda: recording(node, http), what=f"recording on {node.settings.node.id}")
    started = time.monotonic()
    await host.send({"type": "chat_send", "text": line})
    await host.recv_type("chat")
    room = node.service.live_rooms[VIP]
    start = room.media.feeds["video"].frames_in
    await eventually(
        lambda: room.media.feeds["video"].frames_in,
        until=lambda n: n > start + FRAMES,
        timeout=30,
        what="two seconds of video",
    )
    return started


@pytest.mark.parametrize("first_part", ["handed_over", "as_a_killed_node_leaves_it"])
async def test_a_drained_rooms_recording_goes_on_on_the_new_owner_and_is_one_replay(
    start_node: StartNode,
    http: aiohttp.ClientSession,
    redis: RedisClient,
    tmp_path: Path,
    first_part: str,
) -> None:
    """``as_a_killed_node_leaves_it``: the first part's description is gone and its file
    cut short (a node killed mid-write leaves no more): both parts are still joined, and
    the timeline starts with the second part."""
    folder = tmp_path / "replays"  # one machine: the nodes share the folder
    a = await start_node("a", **{"replay.dir": str(folder)})
    b = await start_node("b", **{"replay.dir": str(folder)})
    toggle = await http.put(f"{a.url}/api/rooms/vip/recording", json={"on": True}, headers=AUTH)
    assert toggle.status == 200
    first_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    second_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        host = await a.socket(http)
        joined = await host.join(token("host", role="host"))
        started_a = await publish_part(a, http, host, first_pc, "on the first node")
        session = a.service.live_rooms[VIP].session_id

        await NodeRegistry(redis, 1.5).drain("a")
        assert (await host.recv_type("reconnect", timeout=5))["code"] == "room_moved"
        assert await close_frame(host) == 1012
        length_a = time.monotonic() - started_a
        await first_pc.close()
        described = folder / "parts" / session / "1.json"
        await eventually(described.exists, what="the first part's description")
        if first_part == "as_a_killed_node_leaves_it":
            described.unlink()
            whole = (folder / f"{session}.webm").read_bytes()
            (folder / f"{session}.webm").write_bytes(whole[: len(whole) * 3 // 4])

        again = await b.socket(http)
        await again.send(
            {"type": "join", "token": token("host", role="host"), "resume": joined["resume_token"]}
        )
        back = await again.recv_type("joined", timeout=10)
        assert back["resumed"]["live"] is True, back["resumed"]
        assert b.service.live_rooms[VIP].session_id == session
        started_b = await publish_part(b, http, again, second_pc, "on the second node")
        await again.send({"type": "leave"})
        length_b = time.monotonic() - started_b

        async def replays() -> list[dict[str, Any]]:
            async with http.get(f"{b.url}/api/rooms/vip/replays", headers=AUTH) as answer:
                return list((await answer.json())["replays"])

        listed = await eventually(replays, timeout=20, what="the session's replay")
    finally:
        await first_pc.close()
        await second_pc.close()

    assert [r["session"] for r in listed] == [session]
    async with http.get(
        f"{a.url}/api/replays/{session}", params={"token": token("cora")}
    ) as answer:
        view = await answer.json()
    meta = json.loads((folder / f"{session}.json").read_text())
    one, two = meta["parts"]
    assert one["offset_ms"] == 0 and two["offset_ms"] >= one["duration_ms"]
    # Each part lasts about as long as its owner recorded (within a second: the first
    # key frame, the drain's moments).
    killed = first_part == "as_a_killed_node_leaves_it"
    if killed:  # kept as far as it goes
        assert 500 < one["duration_ms"] < length_a * 1000, one
    else:
        assert abs(one["duration_ms"] / 1000 - length_a) < 1.5, (one, length_a)
    assert abs(two["duration_ms"] / 1000 - length_b) < 1.5, (two, length_b)
    assert abs(view["duration_ms"] - (two["offset_ms"] + two["duration_ms"])) <= 1

    # One file holds both parts' packets, as many as the two owners recorded.
    video: list[int] = []
    with av.open(str(folder / f"{session}.webm")) as container:
        assert {s.codec_context.name for s in container.streams} == {"vp8", "opus"}
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                video.append(int(packet.pts))
    if not killed:  # the killed node's counts died with it
        assert len(video) == meta["recorded"]["video_frames"]
    before = [pts for pts in video if pts < two["offset_ms"]]
    after = [pts for pts in video if pts >= two["offset_ms"]]
    assert len(before) >= FRAMES // 2 and len(after) >= FRAMES // 2, (len(before), len(after))
    assert abs(video[-1] / 1000 - (one["duration_ms"] / 1000 + length_b)) < 3.0

    # The timeline's lines sit in their parts.
    chat = {e["text"]: e["t"] for e in view["timeline"] if e["kind"] == "chat"}
    # (Said as the part began: at its start, to the timeline's hundredth of a second.)
    assert two["offset_ms"] <= chat["on the second node"] * 1000 + 10
    if killed:
        assert list(chat) == ["on the second node"]
    else:
        assert chat["on the first node"] * 1000 < two["offset_ms"]
    # Nothing of the parts is left beside the replay.
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{session}.json", f"{session}.webm", "parts"]
    )
    assert not any((folder / "parts").iterdir())
