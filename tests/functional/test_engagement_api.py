"""Engagement at the edge, against a real server and Redis: external events, explain,
the metrics API, the dashboard page, the tier push to hosts, and the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from server.engagement.members import MEMBER_INDEX_KEY
from server.rooms.store import RoomStore
from tests.functional.conftest import ADMIN_KEY, Socket, expect_nothing, token
from tests.support.cli import salon
from tests.support.markers import marker_event
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
Connect = Callable[..., Awaitable[Socket]]


async def make_auto_member(client: TestClient[Any, Any], member: str) -> None:
    body = {"tier": "potential", "name": member.title(), "auto": True}
    response = await client.put(f"/api/members/{member}", headers=AUTH, json=body)
    assert response.status == 200, await response.text()


async def explained(client: TestClient[Any, Any], member: str) -> dict[str, Any]:
    response = await client.get(f"/api/members/{member}/explain", headers=AUTH)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


PURCHASE = {
    "kind": "purchase",
    "id": "shop-order-1",
    "member_id": "zed",
    "order_id": "SO-1",
    "amount": "59.90",
    "currency": "EUR",
}


async def test_external_events_are_recorded_and_a_retry_counts_once(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    await make_auto_member(client, "zed")
    body = {
        "events": [
            PURCHASE,
            {"kind": "share", "member_id": "zed", "channel": "whatsapp"},
            {"kind": "invite", "member_id": "zed", "invitee": "yan"},
            {"kind": "external", "member_id": "zed", "action": "group_joined"},
            {"kind": "external", "member_id": "lead-7", "action": "hook_click", "source": "tiktok"},
        ]
    }
    response = await client.post("/api/events", headers=AUTH, json=body)
    assert response.status == 202, await response.text()
    answer = await response.json()
    assert answer["accepted"] == 5 and answer["ids"][0] == "x-shop-order-1"
    # The shop did not hear back and sends the purchase again.
    again = await client.post("/api/events", headers=AUTH, json=PURCHASE)
    assert again.status == 202

    async def scored() -> bool:
        return (await explained(client, "zed"))["activity"]["shares_and_invites"] == 2

    await eventually(scored, what="zed's shares and invites scored")

    async def scorer_caught_up() -> bool:  # marker: the second purchase has been read too
        groups = await redis.xinfo_groups(STREAM_KEY)
        return bool(groups) and all(g["pending"] == 0 and g["lag"] == 0 for g in groups)

    await eventually(scorer_caught_up, what="the scorer through the whole stream")
    zed = await explained(client, "zed")
    assert (zed["rfm"]["frequency"], zed["rfm"]["ltv"]) == (1, "59.90")
    assert zed["tier"] == "active" and zed["verdict"]["rule"] == "active"
    assert zed["history"][0]["from"] == "potential" and zed["history"][0]["to"] == "active"
    kinds = [decode(f[STREAM_FIELD]).kind for _, f in await redis.xrange(STREAM_KEY)]
    assert kinds.count("purchase") == 2  # in the stream twice, applied once


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (
            {"events": [PURCHASE, {**PURCHASE, "amount": "0"}]},
            400,
            "invalid_event",
            "events[1]: Amount '0'",
        ),
        (
            {"kind": "join", "member_id": "zed"},
            400,
            "invalid_event",
            "kind must be one of purchase",
        ),
        ({**PURCHASE, "colour": "red"}, 400, "invalid_event", "unknown field 'colour'"),
        ({**PURCHASE, "member_id": "a b"}, 400, "invalid_event", "Member_id must be an id"),
        ({**PURCHASE, "at": "2999-01-01T00:00:00Z"}, 400, "invalid_event", "in the future"),
        ({**PURCHASE, "at": "yesterday"}, 400, "invalid_event", "not an ISO 8601 time"),
        (
            {"kind": "share", "member_id": "zed", "at": "2020-01-01T00:00:00Z"},
            400,
            "invalid_event",
            "older than 30 days",
        ),
        ({"kind": "invite", "member_id": "zed"}, 400, "invalid_event", "invitee must be"),
        (
            {"kind": "external", "member_id": "zed", "action": "dance"},
            400,
            "invalid_event",
            "action must be",
        ),
        ({**PURCHASE, "id": "has space"}, 400, "invalid_event", "id must be"),
        ({"events": []}, 400, "invalid_field", "non-empty list"),
        ({"events": [PURCHASE] * 501}, 413, "too_many", "At most 500"),
        ([1, 2], 400, "invalid_event", "must be a JSON object"),
    ],
)
async def test_bad_events_refuse_the_whole_request_and_record_nothing(
    client: TestClient[Any, Any],
    redis: Redis,
    body: Any,
    status: int,
    code: str,
    words: str,
) -> None:
    before = await redis.xlen(STREAM_KEY)
    response = await client.post("/api/events", headers=AUTH, json=body)
    assert response.status == status
    error = (await response.json())["error"]
    assert error["code"] == code and words.lower() in error["message"].lower(), error
    await marker_event(client, redis, ADMIN_KEY)
    assert await redis.xlen(STREAM_KEY) == before + 1  # the marker alone


async def test_engagement_routes_need_the_admin_key(client: TestClient[Any, Any]) -> None:
    for method, path in [
        ("POST", "/api/events"),
        ("GET", "/api/members/cora/explain"),
        ("GET", "/api/metrics"),
        ("GET", "/api/metrics/sessions/vip:s1"),
        ("PUT", "/api/metrics/sessions/vip:s1/cost"),
    ]:
        response = await client.request(method, path, headers={"Authorization": "Bearer no"})
        assert response.status == 401
    bad_json = await client.post("/api/events", headers=AUTH, data=b"{nope")
    assert (await bad_json.json())["error"]["code"] == "bad_json"


async def test_explain_a_pinned_member_and_refuse_unknown_ones(
    client: TestClient[Any, Any],
) -> None:
    cora = await explained(client, "cora")
    assert (cora["tier"], cora["mode"], cora["verdict"]["rule"]) == ("core", "pinned", "pinned")
    assert "set by an operator (scoring would say potential)" in cora["verdict"]["reason"]
    missing = await client.get("/api/members/nobody/explain", headers=AUTH)
    assert missing.status == 404
    invalid = await client.get("/api/members/bad%20id/explain", headers=AUTH)
    assert (await invalid.json())["error"]["code"] == "invalid_id"


async def test_the_metrics_api_and_a_sessions_cost(
    client: TestClient[Any, Any], connect: Connect
) -> None:
    ws = await connect()
    joined = await ws.join(token("cora"))
    session = joined["interactions"]["session"]
    await ws.send({"type": "leave"})
    await ws.closed_with()

    async def session_seen() -> bool:
        data = await (await client.get("/api/metrics/sessions", headers=AUTH)).json()
        return bool(data["sessions"])

    await eventually(session_seen, what="the session in the metrics")
    overview = await (await client.get("/api/metrics", headers=AUTH)).json()
    assert set(overview) == {"funnel", "health", "value", "tiers", "sessions"}
    assert overview["funnel"]["invited"] == 1  # pia, on vip's invite list
    assert overview["tiers"]["now"]["core"] == 3
    name = overview["sessions"][0]["session"]
    # Join and leave carry the room session id the interactions use (and show the page).
    assert name == f"vip:{session}" and overview["sessions"][0]["attendees"] == 1
    for view in ("funnel", "health", "value", "tiers"):
        assert (await client.get(f"/api/metrics/{view}", headers=AUTH)).status == 200
    priced = await client.put(
        f"/api/metrics/sessions/{name}/cost", headers=AUTH, json={"cost": "10"}
    )
    assert (await priced.json())["cost"] == "10.00"
    assert (await priced.json())["roi"] == -1.0
    for cost in ("-1", "ten", "1.234", True, None):
        bad = await client.put(
            f"/api/metrics/sessions/{name}/cost", headers=AUTH, json={"cost": cost}
        )
        assert bad.status == 400, cost
    unknown = await client.get("/api/metrics/sessions/vip:nope", headers=AUTH)
    assert unknown.status == 404
    invalid = await client.get("/api/metrics/sessions/no-colon", headers=AUTH)
    assert invalid.status == 400
    assert (await client.get("/api/metrics/sessions?limit=0", headers=AUTH)).status == 400


async def test_the_dashboard_page_and_its_chart_library_are_served_locally(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/dashboard")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert '<script src="/static/vendor/chart.umd.min.js">' in html and "https://" not in html
    for path in (
        "/static/dashboard.js",
        "/static/vendor/chart.umd.min.js",
        "/static/engagement.js",
    ):
        assert (await client.get(path)).status == 200, path


async def test_prometheus_figures_include_the_spill(client: TestClient[Any, Any]) -> None:
    text = await (await client.get("/metrics")).text()
    for name in ("salon_event_buffer_depth", "salon_event_spill_depth", "salon_events_dropped"):
        assert f"\n{name} " in text or f"\n{name}_total " in text, name


async def test_a_tier_change_is_pushed_to_the_hosts_of_the_members_room(
    client: TestClient[Any, Any], connect: Connect, redis: Redis
) -> None:
    await ops.create_room(RoomStore(redis), "open", "Open room", "potential,active,core")
    await make_auto_member(client, "zed")
    host = await connect()
    assert (await host.join(token("host", "open", "host"), "open"))["type"] == "joined"
    zed = await connect()
    assert (await zed.join(token("zed", "open"), "open"))["type"] == "joined"
    response = await client.post("/api/events", headers=AUTH, json=PURCHASE)
    assert response.status == 202
    pushed = await host.recv_type("tier", timeout=10)
    assert {k: pushed[k] for k in ("member_id", "name", "from", "to")} == {
        "member_id": "zed",
        "name": "Zed",
        "from": "potential",
        "to": "active",
    }
    assert pushed["reason"].startswith("active: orders within 365 days 1")
    # Members are not told about each other's tiers.
    await expect_nothing(zed, "tier")


# --- the CLI -------------------------------------------------------------------------


async def test_import_refuses_a_bad_row_and_writes_nothing_then_imports(
    redis_server: EmbeddedRedis, redis: Redis, tmp_path: Path
) -> None:
    members = tmp_path / "members.csv"
    members.write_text("member_id,name,tier\nann,Ann Lee,potential\nbob,Bob,\n")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,member_id,amount,currency,ordered_at\n"
        "A-1,ann,120.00,EUR,2024-01-10T10:00:00Z\n"
        "A-2,ann,12,50,EUR,2024-02-01\n"
    )
    code, out, err = await salon(
        redis_server, "import", "--members", str(members), "--orders", str(orders)
    )
    assert code == 2, (out, err)
    assert f"{orders} line 3: 6 fields, but the header has 5" in err
    assert "nothing written" in err
    assert await redis.scard(MEMBER_INDEX_KEY) == 0 and await redis.dbsize() == 0

    orders.write_text(
        "order_id,member_id,amount,currency,ordered_at\n"
        "A-1,ann,120.00,EUR,2024-01-10T10:00:00Z\n"
        'A-2,ann,"12.50",EUR,2024-02-01\n'
    )
    code, out, err = await salon(
        redis_server, "import", "--members", str(members), "--orders", str(orders)
    )
    assert code == 0, err
    assert "imported 2 members and 2 orders (2 new)" in out
    assert "orders: 2/2" in err  # the progress, on stderr
    code, out, err = await salon(redis_server, "members", "explain", "ann")
    assert code == 0, err
    # A buyer is never potential (issue 14): her orders are old, but she has bought.
    assert out.startswith("ann (Ann Lee): active, decided by scoring")
    assert "2 orders, LTV 132.50 EUR" in out
    code, out, err = await salon(redis_server, "members", "explain", "ann", "--json")
    assert json.loads(out)["rfm"]["repurchases"] == 1
    code, out, err = await salon(redis_server, "metrics", "value")
    assert code == 0 and json.loads(out)["revenue"] == "132.50"
    code, out, err = await salon(redis_server, "members", "explain", "nobody")
    assert code == 1 and "no member 'nobody'" in err


async def test_members_set_auto_hands_a_member_to_scoring(
    redis_server: EmbeddedRedis, redis: Redis
) -> None:
    code, out, err = await salon(redis_server, "members", "set", "eve", "--tier", "core", "--auto")
    assert code == 0, err
    assert json.loads(out)["tier"] == "core"
    assert await redis.hget("salon:{m:eve}:member", "mode") == b"auto"
