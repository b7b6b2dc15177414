"""The REST edge under bad input and a missing Redis: a 4xx or a 503 with a code, never a
500, never a traceback in the log (issue 9)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from tests.functional.conftest import ADMIN_KEY, Restartable, make_settings

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
PARAMS = {
    "{member_id}": "cora",
    "{room_id}": "vip",
    "{session}": "vip:s1",
    "{coupon_id}": "spring",
    "{reward_id}": "bag-off",
    "{session_id}": "s1",
    "{endpoint_id}": "w1",
    "{code}": "h-code",
    "{consult_id}": "c0",
}
# A body each operation takes, so that the request reaches the data store.
BODIES: dict[str, Any] = {
    "/api/members/{member_id}": {"tier": "core", "name": "Cora"},
    "/api/rooms/{room_id}": {"title": "VIP", "tiers": ["core"]},
    "/api/tokens": {"member_id": "cora", "room_id": "vip"},
    "/api/purchases": {
        "order_id": "o-1",
        "member_id": "cora",
        "product_id": "bag-1",
        "amount": "10.00",
        "currency": "EUR",
    },
    "/api/metrics/sessions/{session}/cost": {"cost": "10.00"},
    "/api/coupons/{coupon_id}": {"title": "Spring", "value": "10.00", "count": 100},
    "/api/points/rewards/{reward_id}": {"title": "Bag", "cost": 500, "coupon": "spring"},
    "/api/webhooks": {"url": "http://127.0.0.1:9/hook", "kinds": ["*"]},
    "/api/sessions/{session_id}": {
        "room_id": "vip",
        "title": "Launch",
        "starts_at": "2030-01-01T10:00:00+00:00",
    },
    "/api/sessions/{session_id}/links": {"channel": "wechat"},
    # One JSON Lines row (sent as JSON: one line), so that the import asks Redis.
    "/api/import/events": {"id": "x1", "kind": "chat", "member_id": "cora", "at": 1700000000000},
}
# Answered without Redis: minting a token signs it; events wait in the recorder's buffer.
NO_STORE = {("POST", "/api/tokens"), ("POST", "/api/events")}


def _url(path: str) -> str:
    for name, value in PARAMS.items():
        path = path.replace(name, value)
    return path


async def _operations(client: TestClient[Any, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    doc = await (await client.get("/api/openapi.json")).json()
    return [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_deeply_nested_json_is_bad_json_on_every_json_route(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 9: ``"[" * 30000`` raised RecursionError, a 500 on every JSON endpoint; the
    rewards routes (issue 15, merged beside it) still parsed bodies their own way and
    answered 500 until they took ``parse_json``. The hook routes (issue 16) looked the
    link or session up first and answered 404 for a deep body to an unknown code."""
    caplog.set_level(logging.INFO)
    checked = []
    for method, path, op in await _operations(client):
        if "application/json" not in op.get("requestBody", {}).get("content", {}):
            continue  # no body, or not JSON (the history import takes CSV or JSON Lines)
        # Deep enough to exhaust the parser's recursion, small enough for every body cap.
        for body in (b"[" * 15000, b'{"a":' * 3000):
            response = await client.request(method, _url(path), headers=AUTH, data=body)
            assert response.status == 400, (method, path, await response.text())
            assert (await response.json())["error"]["code"] == "bad_json"
        checked.append(path)
    assert len(checked) >= 6
    # The rewards routes read their bodies with json.loads: deep nesting was a 500 there.
    assert {"/api/coupons/{coupon_id}", "/api/points/rewards/{reward_id}"} <= set(checked)
    assert _tracebacks(caplog) == []
    hooks = {"/api/webhooks", "/api/sessions/{session_id}/links", "/api/hooks/{code}/rsvp"}
    assert hooks <= set(checked)


async def test_a_deeply_nested_json_lines_row_is_a_rejected_row(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """After the merge: a JSON Lines row ``"[" * 15000`` escaped the history import's
    parser as a RecursionError (a 500 with a traceback); it is one rejected row."""
    caplog.set_level(logging.INFO)
    body = b"[" * 15000 + b"\n"
    response = await client.post("/api/import/events?dry_run=1", headers=AUTH, data=body)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert (answer["rows"], answer["good"], answer["rejected_count"]) == (1, 0, 1)
    assert answer["rejected"][0]["code"] == "bad_format"
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("path", ["/api/webhooks/w1/deliveries", "/api/metrics/at-risk"])
@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "-1", "0", "99999999999999"])
async def test_a_limit_that_is_not_ascii_digits_in_range_is_refused(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, path: str, limit: str
) -> None:
    """After the merge: ``?limit=²`` passed ``str.isdigit`` and ``int()`` raised, a 500."""
    caplog.set_level(logging.INFO)
    response = await client.get(path, headers=AUTH, params={"limit": limit})
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid_field"
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"cost": "NaN"}', "invalid_field"),
        (b'{"cost": "sNaN"}', "invalid_field"),
        (b'{"cost": "-Infinity"}', "invalid_field"),
        (b'{"cost": NaN}', "bad_json"),
        (b'{"cost": Infinity}', "bad_json"),
        (b'{"cost": 1e999999999}', "invalid_field"),
    ],
)
async def test_a_cost_that_is_not_a_number_is_refused(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, body: bytes, code: str
) -> None:
    """Issue 9: ``{"cost": "NaN"}`` on ``PUT /api/metrics/sessions/…/cost`` was a 500."""
    response = await client.put("/api/metrics/sessions/vip:s1/cost", headers=AUTH, data=body)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code
    assert _tracebacks(caplog) == []


async def test_an_amount_with_a_huge_exponent_is_refused_at_once(
    client: TestClient[Any, Any],
) -> None:
    """A JSON number like 1e999999999 read as a Decimal took seconds and a gigabyte to
    format as an amount, blocking the event loop."""
    body = b'{"order_id":"o-9","member_id":"cora","product_id":"p","amount":1e999999999,'
    body += b'"currency":"EUR"}'
    started = time.monotonic()
    response = await client.post("/api/purchases", headers=AUTH, data=body)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_field"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "value", [ADMIN_KEY, f"Basic {ADMIN_KEY}", f"Bearer{ADMIN_KEY}", f"Token {ADMIN_KEY}"]
)
async def test_the_admin_key_needs_the_bearer_scheme(
    client: TestClient[Any, Any], value: str
) -> None:
    """Issue 9: the admin key was accepted without ``Bearer ``."""
    for path in ("/api/rooms", "/api/metrics/tiers"):
        response = await client.get(path, headers={"Authorization": value})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    # The scheme is case-insensitive (RFC 7235); the marker that the key itself works.
    ok = await client.get("/api/rooms", headers={"Authorization": f"bearer {ADMIN_KEY}"})
    assert ok.status == 200


async def test_unknown_paths_and_methods_under_api_answer_the_error_body(
    client: TestClient[Any, Any],
) -> None:
    missing = await client.get("/api/nothing-here", headers=AUTH)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.patch("/api/rooms", headers=AUTH)
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


async def test_with_redis_down_every_operator_route_answers_503_unavailable(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    own_redis: Restartable,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 9: with Redis down, ``GET /api/members/…``, ``PUT …/bans`` and the other
    operator routes answered 500 with a traceback (purchases answered 503)."""
    server = await own_redis.up()
    settings = make_settings(
        server.url, **{"engagement.scorer_enabled": False, "redis.timeout": 1.0}
    )
    client = await aiohttp_client(create_app(settings))
    operations = await _operations(client)
    await own_redis.down()
    caplog.set_level(logging.INFO)
    answered = []
    for method, path, op in operations:
        if op.get("security") == [] or (method, path) in NO_STORE:
            continue
        response = await client.request(method, _url(path), headers=AUTH, json=BODIES.get(path, {}))
        assert response.status == 503, (method, path, await response.text())
        assert (await response.json())["error"]["code"] == "unavailable"
        answered.append(path)
    assert "/api/rooms/{room_id}/bans/{member_id}" in answered
    assert "/api/members/{member_id}" in answered
    assert "/api/points/rewards/{reward_id}" in answered
    assert len(answered) >= 18
    assert _tracebacks(caplog) == []
