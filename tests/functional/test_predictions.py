"""Predicted purchases and the at-risk list against a real Redis (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import requests
import schemathesis
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from schemathesis.core.transport import Response

from benchmarks.community import generate, to_jsonl
from server.engagement.aggregates import Aggregates
from server.engagement.events import SCHEMA_VERSION, Event, EventKind, purchase_data
from server.engagement.forecast import read_prediction, refit
from server.engagement.history_import import parse_events, write_history
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.rules import DAY_MS, load_rules
from server.engagement.scoring import now_ms
from server.ids import MemberId
from tests.functional.conftest import ADMIN_KEY

RULES = load_rules()


async def imported(redis: Redis, members: int) -> Any:
    now = now_ms()
    community = generate(members, seed=11, now_ms=now)
    store = MemberStore(redis)
    for m in community.members:
        await store.upsert(m.member_id, None, None, mode="auto", since_ms=now - 400 * DAY_MS)
    parsed = parse_events(to_jsonl(community.events), "jsonl", RULES, now)
    await write_history(Ledger(redis, RULES, history=True), Aggregates(redis, RULES), parsed.events)
    return community


async def test_predictions_are_refitted_and_shown_in_explain(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    community = await imported(redis, 150)
    written = await refit(redis, now_ms())
    assert written >= 150
    chances: dict[str, list[float]] = {"core": [], "lapsing": []}
    for m in community.members:
        if m.persona in chances:
            p = await read_prediction(redis, m.member_id)
            assert p is not None
            chances[m.persona].append(p["p_buy_again"])
    # Regular buyers are more likely to buy again than those who stopped.
    core_mean = sum(chances["core"]) / len(chances["core"])
    assert core_mean > 2 * sum(chances["lapsing"]) / len(chances["lapsing"])
    core = next(m for m in community.members if m.persona == "core")
    never = next(m for m in community.members if m.persona == "potential")
    p_core = await read_prediction(redis, core.member_id)
    p_none = await read_prediction(redis, never.member_id)
    assert p_core is not None and p_none is not None
    assert p_core["expected_value_minor"] > 0
    assert p_none["expected_orders"] == 0
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    resp = await client.get(f"/api/members/{core.member_id}/explain", headers=headers)
    data = await resp.json()
    assert data["predicted"]["p_buy_again"] == p_core["p_buy_again"]


async def test_the_at_risk_list_holds_the_lapsing_members_with_the_value_at_stake(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """Regression (issue 14): there was no "at risk" to act on."""
    community = await imported(redis, 100)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    resp = await client.get("/api/metrics/at-risk?limit=500", headers=headers)
    data = await resp.json()
    listed = {row["member_id"] for row in data["top"]}
    lapsing = {m.member_id for m in community.members if m.at_risk}
    assert lapsing and lapsing <= listed
    assert data["members"] == len(listed) and float(data["value_at_stake"]) > 0
    bad = await client.get("/api/metrics/at-risk?limit=0", headers=headers)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_field"


async def test_average_order_value_counts_converted_orders_and_leaves_out_unvalued_ones(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """Regression (issue 14): AOV counted an order in another currency in the
    denominator with 0 in revenue (156.24 where the true figure was 159.28), and LTV
    per buyer was floored to the cent."""
    await MemberStore(redis).upsert(MemberId("una"), None, "Una", mode="auto", cause="test")
    ts = now_ms() - DAY_MS
    events = [
        Event(f"v{n}", SCHEMA_VERSION, EventKind.PURCHASE, "", MemberId("una"), ts + n, data)
        for n, data in enumerate(
            [
                purchase_data("u1", "100.00", "EUR"),
                purchase_data("u2", "100.00", "USD"),  # 92.00 EUR
                purchase_data("u3", "100.01", "EUR"),
                purchase_data("u4", "100.00", "SEK"),  # no rate: counted, not valued
            ]
        )
    ]
    ledger = Ledger(redis, RULES)
    outcome = await ledger.apply(events)
    await Aggregates(redis, RULES).write(events, outcome.states, ledger.now())
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    value = await (await client.get("/api/metrics/value", headers=headers)).json()
    assert (value["orders"], value["orders_without_rate"], value["revenue"]) == (4, 1, "292.01")
    assert value["average_order_value"] == "97.34"  # 292.01 / 3, to the nearest cent


async def test_an_at_risk_limit_of_other_digits_is_refused_not_a_server_error(
    client: TestClient[Any, Any],
) -> None:
    """Regression (OpenAPI fix-up after the tiers merge): ``?limit=²`` passed
    ``str.isdigit`` and made ``int`` raise: a 500 with a traceback. Each is now a 400
    ``invalid_field``; the valid limit after them (the marker) still answers."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for limit in ("²", "١٢", "1001", "-1", "1.5", "9" * 5000):
        bad = await client.get("/api/metrics/at-risk", params={"limit": limit}, headers=headers)
        assert bad.status == 400, (limit, bad.status)
        assert (await bad.json())["error"]["code"] == "invalid_field"
    marker = await client.get("/api/metrics/at-risk?limit=1000", headers=headers)
    assert marker.status == 200 and (await marker.json())["top"] == []


async def test_the_tiers_answers_are_what_the_openapi_document_says(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """Regression (OpenAPI fix-up after the tiers merge): ``/api/metrics/at-risk`` and
    ``/api/import/events`` were missing from the document, and explain and value had
    gained fields it did not describe. Real answers for an imported, refitted community
    (members with predictions, history, points, next changes) are checked against it:
    the fuzzer alone mostly sees explain's 404."""
    community = await imported(redis, 120)
    await refit(redis, now_ms())
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    doc = await (await client.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(doc)

    async def check(method: str, path: str, url: str, **kwargs: Any) -> dict[str, Any]:
        resp = await client.request(method, url, headers=headers, **kwargs)
        body = await resp.read()
        answer = Response(
            resp.status,
            {k: [v] for k, v in resp.headers.items()},
            body,
            requests.Request(method, f"http://127.0.0.1{url}").prepare(),
            0.0,
            verify=False,
        )
        assert resp.status == 200, body[:300]
        schema[path][method].validate_response(answer)
        data: dict[str, Any] = json.loads(body)
        return data

    explain = "/api/members/{member_id}/explain"
    seen: set[str] = set()
    for m in community.members:
        if m.persona not in seen:
            seen.add(m.persona)
            data = await check("GET", explain, f"/api/members/{m.member_id}/explain")
            assert "points_by_kind" in data and "next_change" in data
    assert (await check("GET", "/api/metrics/value", "/api/metrics/value"))["orders"] > 0
    await check("GET", "/api/metrics", "/api/metrics")
    risk = await check("GET", "/api/metrics/at-risk", "/api/metrics/at-risk?limit=3")
    assert len(risk["top"]) == 3 < risk["members"]
    rows = to_jsonl(community.events[:50]) + "\n{not json\n"
    for url in ("/api/import/events?dry_run=1", "/api/import/events"):
        done = await check("POST", "/api/import/events", url, data=rows)
        assert done["rejected_count"] == 1
    assert done["duplicates"] > 0
