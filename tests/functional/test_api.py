"""The operator's REST API against a real server and Redis: auth, validation, round trips."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.functional.conftest import ADMIN_KEY, Socket
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY + "x"}]
)
async def test_every_route_needs_the_admin_key(
    client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/rooms"),
        ("GET", "/api/members/cora"),
        ("PUT", "/api/members/x"),
        ("POST", "/api/tokens"),
    ]:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_members_round_trip(client: TestClient[Any, Any]) -> None:
    response = await client.put(
        "/api/members/zoe", headers=AUTH, json={"tier": "active", "name": "Zoë"}
    )
    assert response.status == 200
    got = await (await client.get("/api/members/zoe", headers=AUTH)).json()
    assert got == {"member_id": "zoe", "tier": "active", "name": "Zoë", "score": 0.0}
    missing = await client.get("/api/members/nobody", headers=AUTH)
    assert missing.status == 404


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/members/zoe", {"tier": "gold"}, "invalid_tier"),
        ("/api/members/bad%20id", {"tier": "core"}, "invalid_id"),
        ("/api/members/zoe", {"tier": "core", "name": ""}, "invalid_field"),
        ("/api/members/zoe", {"tier": "core", "name": 7}, "invalid_field"),
        ("/api/rooms/r1", {"title": "T" * 121, "tiers": "core"}, "invalid_field"),
        ("/api/rooms/r1", {"title": "T", "tiers": "core", "capacity": 0}, "invalid_field"),
        ("/api/rooms/r1", {"title": "T", "tiers": ["vip"]}, "invalid_tier"),
        ("/api/rooms/r1", {"tiers": "core"}, "invalid_field"),
        ("/api/rooms/r1", {"title": "T", "tiers": "core", "invites": "ann"}, "invalid_field"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], code: str
) -> None:
    response = await client.put(path, headers=AUTH, json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == code
    assert error["message"].endswith(".")
    assert (await client.get("/api/members/zoe", headers=AUTH)).status == 404
    assert (await client.get("/api/rooms/r1", headers=AUTH)).status == 404


@pytest.mark.parametrize(
    ("path", "body", "reason", "char"),
    [
        ("/api/members/zoe", {"tier": "core", "name": "Zo\u202ee"}, "bidi_control", "U+202E"),
        ("/api/members/zoe", {"tier": "core", "name": "Zo\x00e"}, "control_character", "U+0000"),
        ("/api/members/zoe", {"tier": "core", "name": "Zo\ne"}, "control_character", "U+000A"),
        ("/api/members/zoe", {"tier": "core", "name": "Zo\ud800"}, "bad_unicode", "U+D800"),
        ("/api/rooms/r1", {"title": "A\u2028B", "tiers": "core"}, "bidi_control", "U+2028"),
    ],
)
async def test_names_and_titles_follow_the_text_rules(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], reason: str, char: str
) -> None:
    """Issue 9: names accepted U+202E, NUL and newlines (and a lone surrogate, which
    once silenced every JSON socket of a room)."""
    response = await client.put(path, headers=AUTH, json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    field = "name" if "name" in body else "title"
    assert error == {
        "code": "invalid_text",
        "message": error["message"],
        "field": field,
        "reason": reason,
        "char": char,
    }
    assert error["message"].startswith(f"'{field}' holds") or "surrogate" in error["message"]
    assert (await client.get("/api/members/zoe", headers=AUTH)).status == 404
    assert (await client.get("/api/rooms/r1", headers=AUTH)).status == 404


async def test_bad_json_and_oversized_bodies(client: TestClient[Any, Any]) -> None:
    response = await client.put("/api/members/zoe", headers=AUTH, data=b"{nope")
    assert (await response.json())["error"]["code"] == "bad_json"
    response = await client.put("/api/members/zoe", headers=AUTH, data=b"[1]")
    assert (await response.json())["error"]["code"] == "bad_json"
    response = await client.put("/api/members/zoe", headers=AUTH, data=b"x" * 70_000)
    assert response.status == 413


async def test_room_and_token_from_the_api_open_the_room(client: TestClient[Any, Any]) -> None:
    room = await client.put(
        "/api/rooms/launch",
        headers=AUTH,
        json={"title": "Launch night", "tiers": ["active"], "capacity": 5, "invites": ["sid"]},
    )
    assert (await room.json())["invites"] == ["sid"]
    listed = await (await client.get("/api/rooms", headers=AUTH)).json()
    assert "launch" in [r["id"] for r in listed["rooms"]]
    minted = await (
        await client.post(
            "/api/tokens", headers=AUTH, json={"member_id": "sid", "room_id": "launch"}
        )
    ).json()
    assert minted["path"].startswith("/rooms/launch?token=")
    ws = Socket(await client.ws_connect("/ws"))
    joined = await ws.join(minted["token"], room="launch")
    assert joined["type"] == "joined"  # silent, but invited
    await ws.ws.close()
    bad = await client.post(
        "/api/tokens", headers=AUTH, json={"member_id": "sid", "room_id": "launch", "role": "admin"}
    )
    assert (await bad.json())["error"]["code"] == "invalid_role"


async def test_room_page_and_logs_keep_tokens_private(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.get("/rooms/vip?token=secret-token-value")
    assert response.status == 200
    await eventually(lambda: '"GET /rooms/vip"' in caplog.text, what="the access log line")
    assert '"GET /rooms/vip"' in caplog.text  # the request was logged, without its query
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "secret-token-value" not in caplog.text
    metrics = await (await client.get("/metrics")).text()
    assert "salon_event_buffer_depth" in metrics
