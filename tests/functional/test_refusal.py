"""The refusal a page renders in its reader's language: stable code, params and the
operator's next step (the room's ``refusal_link``), over the real protocol and REST API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.functional.conftest import ADMIN_KEY, Socket, token

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
ROOM = {"title": "VIP lounge", "tiers": ["core", "active"], "capacity": 3}


async def test_tier_refusal_carries_params_and_the_rooms_next_step(
    client: TestClient[Any, Any], connect: Any
) -> None:
    """Regression (issue 13): the refusal page read raw and offered no next step. The
    refusal now carries what the page words it from, and the operator's link."""
    link = "https://brand.example.com/membership"
    put = await client.put("/api/rooms/vip", json={**ROOM, "refusal_link": link}, headers=AUTH)
    assert put.status == 200, await put.text()
    assert (await put.json())["refusal_link"] == link

    ws: Socket = await connect()
    refused = await ws.join(token("sid"))
    assert refused["code"] == "tier_too_low"
    assert refused["params"] == {
        "room_title": "VIP lounge",
        "allowed": ["core", "active"],
        "tier": "silent",
        "next": link,
    }
    assert await ws.closed_with() == 4403


async def test_a_room_without_a_next_step_sends_none(
    client: TestClient[Any, Any], connect: Any
) -> None:
    ws: Socket = await connect()
    refused = await ws.join(token("sid"))
    assert refused["code"] == "tier_too_low"
    assert "next" not in refused["params"]


async def test_a_refusal_link_must_be_an_http_address(client: TestClient[Any, Any]) -> None:
    for bad in ("javascript:alert(1)", "ftp://x.example.com/", "https://", 42):
        put = await client.put("/api/rooms/vip", json={**ROOM, "refusal_link": bad}, headers=AUTH)
        assert put.status == 400, bad
        body = await put.json()
        assert body["error"]["code"] == "invalid_field", body
    # Nothing changed: the room still has no link.
    room = await (await client.get("/api/rooms/vip", headers=AUTH)).json()
    assert "refusal_link" not in room
