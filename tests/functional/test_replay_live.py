"""Recording a live session through the real server (issue 16): a host joins over the
WebSocket and publishes with aiortc; the room's toggle decides whether the session is
recorded, and a recorded session leaves its WebM and its timeline (chat, product)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.app import SERVICE
from tests.functional.conftest import ADMIN_KEY, Socket, token
from tests.functional.test_media_metrics import negotiate
from tests.support.waiting import eventually

pytestmark = pytest.mark.media

Client = TestClient[Any, Any]
Connect = Callable[..., Awaitable[Socket]]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"replay.dir": str(tmp_path / "replays")}


async def live_session(client: Client, connect: Connect, chat: str, recorded: bool) -> None:
    """The host goes live, says ``chat``, pins a product and leaves: the session ends."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        host = await connect()
        assert (await host.join(token("host", role="host")))["type"] == "joined"
        pc.addTrack(VideoStreamTrack())
        pc.addTrack(AudioStreamTrack())
        await negotiate(host, pc, "pub", "p")

        async def state() -> Any:
            return await (await client.get("/api/rooms/vip/recording", headers=AUTH)).json()

        service = client.server.app[SERVICE]
        await eventually(
            lambda: service.live_rooms.get("vip"),
            until=lambda room: room is not None and room.media.live,
            what="the host live",
        )
        if recorded:
            await eventually(state, until=lambda s: s["recording"], what="recording")
        await host.send({"type": "chat_send", "text": chat})
        await host.recv_type("chat")
        product = {"id": "tea-1", "title": "Tea", "price": "¥20", "link": "https://s.example/t"}
        await host.send({"type": "product_pin", **product})
        await host.recv_type("product")
        await eventually(
            lambda: service.live_rooms["vip"].media.feeds["video"].frames_in,
            until=lambda n: n > 60,
            what="two seconds of video",
        )
        await host.ws.close()
        await eventually(
            lambda: service.live_rooms, until=lambda live: not live, what="the session ended"
        )
    finally:
        await pc.close()


async def test_only_sessions_with_the_toggle_on_are_recorded(
    client: Client, connect: Connect, tmp_path: Path
) -> None:
    # Session 1: the toggle is off.
    await live_session(client, connect, "not recorded", recorded=False)
    # Session 2, in the same room after session 1 closed: the toggle is on.
    on = await client.put("/api/rooms/vip/recording", json={"on": True}, headers=AUTH)
    assert (await on.json())["recording"] is False  # nobody is live
    await live_session(client, connect, "recorded line", recorded=True)

    async def listed() -> list[dict[str, Any]]:
        answer = await client.get("/api/rooms/vip/replays", headers=AUTH)
        return list((await answer.json())["replays"])

    # Session 2's replay is the marker: session 1 closed before it began, and left none.
    replays = await eventually(listed, what="the recorded session listed")
    assert len(replays) == 1
    session = replays[0]["session"]
    assert replays[0]["duration_ms"] >= 1500
    view = await client.get(f"/api/replays/{session}", params={"token": token("cora")})
    timeline = (await view.json())["timeline"]
    assert [e["text"] for e in timeline if e["kind"] == "chat"] == ["recorded line"]
    assert [e["product"]["id"] for e in timeline if e["kind"] == "product"] == ["tea-1"]
    files = sorted(p.name for p in (tmp_path / "replays").iterdir())
    assert files == [f"{session}.json", f"{session}.webm"]
    with av.open(str(tmp_path / "replays" / f"{session}.webm")) as container:
        assert {s.codec_context.name for s in container.streams} == {"vp8", "opus"}
