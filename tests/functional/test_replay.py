"""Replays over HTTP (issue 16): the room's gate on the replay routes, range requests on
the video, replay_watch reports (bounded, deduplicated, capped) and the operator's
recording toggle. The recording itself is made by tests/media/test_recording.py and, end
to end, tests/browser/test_replay.py; here a small WebM stands in for it."""

from __future__ import annotations

import fractions
import json
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.cli.main import main
from server.engagement.events import STREAM_KEY, EventKind, decode
from server.ids import MemberId, RoomId
from server.rooms.bans import BanStore
from server.rooms.replay_store import ReplayStore
from tests.functional.conftest import ADMIN_KEY, token
from tests.support.waiting import eventually

Client = TestClient[Any, Any]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SESSION = "s-recorded-1"
DURATION_MS = 10_000


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"replay.dir": str(tmp_path / "replays")}


@pytest.fixture
async def recorded(redis: Redis, tmp_path: Path) -> ReplayStore:
    """A finished recording of room ``vip``: 10 s of Opus packets and a timeline."""
    store = ReplayStore(redis, tmp_path / "replays")
    store.directory.mkdir(parents=True)
    with av.open(str(store.video_path(SESSION)), "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.time_base = fractions.Fraction(1, 1000)
        stream.codec_context.extradata = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
        for n in range(DURATION_MS // 20):
            packet = av.Packet(b"\xfc\xff\xfe" * 40)
            packet.stream = stream
            packet.pts = packet.dts = n * 20
            packet.time_base = stream.time_base
            out.mux(packet)
    timeline = [{"kind": "product", "t": 2.0, "product": {"id": "p1", "title": "Tea"}}]
    await store.save(
        SESSION,
        {
            "session": SESSION,
            "room_id": "vip",
            "title": "VIP lounge",
            "duration_ms": DURATION_MS,
            "timeline": timeline,
        },
    )
    return store


async def _status(client: Client, member: str, room: str = "vip") -> tuple[int, str | None]:
    response = await client.get(f"/api/replays/{SESSION}", params={"token": token(member, room)})
    body = await response.json()
    return response.status, (body.get("error") or {}).get("code")


async def test_the_replay_is_gated_like_the_room(
    client: Client, recorded: ReplayStore, redis: Redis
) -> None:
    response = await client.get(f"/api/replays/{SESSION}", params={"token": token("cora")})
    assert response.status == 200
    view = await response.json()
    assert view["room_id"] == "vip" and view["timeline"][0]["product"]["id"] == "p1"
    assert await _status(client, "ada") == (200, None)  # active: one of the room's tiers
    assert await _status(client, "pia") == (200, None)  # potential, but invited
    assert await _status(client, "sid") == (403, "tier_too_low")
    assert await _status(client, "nobody") == (403, "unknown_member")
    assert await _status(client, "cora", room="other") == (400, "wrong_room")
    await BanStore(redis).ban(RoomId("vip"), MemberId("cody"))
    assert await _status(client, "cody") == (403, "banned")
    missing = await client.get("/api/replays/s-none", params={"token": token("cora")})
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"
    bare = await client.get(f"/api/replays/{SESSION}")
    assert bare.status == 400 and (await bare.json())["error"]["code"] == "token_invalid"
    # The video answers the same gate, and ranges with 206.
    refused = await client.get(f"/api/replays/{SESSION}/video", params={"token": token("sid")})
    assert refused.status == 403
    video = await client.get(
        f"/api/replays/{SESSION}/video",
        params={"token": token("cora")},
        headers={"Range": "bytes=100-199"},
    )
    assert video.status == 206
    assert video.headers["Content-Range"].startswith("bytes 100-199/")
    assert len(await video.read()) == 100
    listed = await client.get("/api/rooms/vip/replays", headers=AUTH)
    assert [r["session"] for r in (await listed.json())["replays"]] == [SESSION]
    assert (await client.get("/api/rooms/vip/replays")).status == 401
    unknown = await client.get("/api/rooms/nope/replays", headers=AUTH)
    assert (await unknown.json())["error"]["code"] == "room_not_found"


async def _watch(client: Client, member: str, seconds: Any, report: Any) -> tuple[int, Any]:
    response = await client.post(
        f"/api/replays/{SESSION}/watch",
        json={"token": token(member), "seconds": seconds, "report": report},
    )
    return response.status, await response.json()


async def test_watch_reports_are_bounded_deduplicated_and_capped(
    client: Client, recorded: ReplayStore, redis: Redis
) -> None:
    assert await _watch(client, "cora", 15, "page1-1") == (202, {"counted": 15})
    # The same report again (a retried request) counts nothing.
    assert await _watch(client, "cora", 15, "page1-1") == (202, {"counted": 0})
    # Twice the 10 s recording is the most one member's watching counts.
    assert await _watch(client, "cora", 15, "page1-2") == (202, {"counted": 5})
    assert await _watch(client, "cora", 15, "page1-3") == (202, {"counted": 0})
    assert await _watch(client, "ada", 3.5, "other-1") == (202, {"counted": 3.5})
    for bad_seconds, bad_report in [(0, "r"), (61, "r"), ("10", "r"), (True, "r"), (5, "a/b")]:
        status, body = await _watch(client, "ada", bad_seconds, bad_report)
        assert (status, body["error"]["code"]) == (400, "invalid_field"), (bad_seconds, bad_report)
    status, body = await _watch(client, "sid", 5, "x-1")
    assert (status, body["error"]["code"]) == (403, "tier_too_low")
    # A marker after the reports: once it is on the stream, every counted report is too.
    marker = {"events": [{"kind": "share", "member_id": "marker", "id": "marker-1"}]}
    assert (await client.post("/api/events", json=marker, headers=AUTH)).status == 202

    async def marker_in() -> bool:
        return any(b"marker-1" in f[b"e"] for _, f in await redis.xrange(STREAM_KEY))

    await eventually(marker_in, what="the marker on the event stream")
    events = [decode(f[b"e"]) for _, f in await redis.xrange(STREAM_KEY)]
    watches = [e for e in events if e.kind is EventKind.REPLAY_WATCH]
    assert sorted((e.member_id, e.data["seconds"], e.data["report"]) for e in watches) == [
        ("ada", 3.5, "other-1"),
        ("cora", 5, "page1-2"),
        ("cora", 15, "page1-1"),
    ]
    assert all(e.room_id == "vip" and e.data["session"] == SESSION for e in watches)


async def test_the_recording_toggle_is_for_operators(client: Client) -> None:
    path = "/api/rooms/vip/recording"
    assert (await client.put(path, json={"on": True})).status == 401
    bad = await client.put(path, json={"on": "yes"}, headers=AUTH)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_field"
    missing = await client.put("/api/rooms/nope/recording", json={"on": True}, headers=AUTH)
    assert missing.status == 404
    on = await client.put(path, json={"on": True}, headers=AUTH)
    assert await on.json() == {"room_id": "vip", "on": True, "recording": False}
    assert (await (await client.get(path, headers=AUTH)).json())["on"] is True
    listed = await client.get("/api/rooms/vip/replays", headers=AUTH)
    assert (await listed.json())["replays"] == []
    await client.put(path, json={"on": False}, headers=AUTH)
    assert (await (await client.get(path, headers=AUTH)).json())["on"] is False


def test_the_cli_sets_the_toggle_and_lists_replays(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.setenv("SALON_REPLAY_DIR", str(tmp_path / "none-yet"))
    assert main(["rooms", "create", "cli-rec", "--title", "Rec", "--tiers", "core"]) == 0
    capsys.readouterr()
    assert main(["replays", "record", "cli-rec", "on"]) == 0
    assert json.loads(capsys.readouterr().out) == {"room_id": "cli-rec", "on": True}
    assert main(["replays", "list", "cli-rec"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["replays", "record", "cli-rec", "off"]) == 0
    assert json.loads(capsys.readouterr().out)["on"] is False
    assert main(["replays", "record", "no-such-room", "on"]) == 2
    assert capsys.readouterr().err.startswith("salon: room_not_found: ")
