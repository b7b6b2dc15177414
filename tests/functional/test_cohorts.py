"""``GET /api/metrics/cohorts`` on a real server and Redis: exact figures from a scripted
history (issue 14's dashboard: score distribution per tier, cohort retention and
potential -> buyer conversion by join month, time to second purchase)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.engagement.aggregates import Aggregates
from server.engagement.events import Event, EventKind, new_event, now_ms, purchase_data
from server.engagement.history_import import write_history
from server.engagement.importer import parse_time
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.rules import DAY_MS, load_rules
from server.ids import MemberId
from tests.functional.conftest import ADMIN_KEY

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
JANUARY = parse_time("2025-01-15T09:00:00Z")
MARCH = parse_time("2025-03-10T09:00:00Z")


def at(kind: EventKind, member: str, days_ago: float, now: int, **data: Any) -> Event:
    event = new_event(kind, "cohort-room", MemberId(member), **data)
    return Event(
        event.id, event.v, kind, event.room_id, event.member_id, now - int(days_ago * DAY_MS), data
    )


def order(member: str, days_ago: float, now: int, number: int) -> Event:
    data = purchase_data(f"{member}-{number}", "40.00", "EUR")
    return at(EventKind.PURCHASE, member, days_ago, now, **data)


async def scripted(redis: Redis, now: int) -> None:
    """January: ann (two orders 10 days apart, chatted 2 days ago), bob (one order 200
    days ago, nothing since), cai (chatted 5 days ago, never bought). March: dan (three
    orders, the second 30 days after the first), eve (joined a room 40 days ago)."""
    store = MemberStore(redis)
    for member, since in (("ann", JANUARY), ("bob", JANUARY), ("cai", JANUARY)):
        await store.upsert(MemberId(member), None, None, mode="auto", since_ms=since)
    for member in ("dan", "eve"):
        await store.upsert(MemberId(member), None, None, mode="auto", since_ms=MARCH)
    events = [
        order("ann", 100, now, 1),
        order("ann", 90, now, 2),
        at(EventKind.CHAT, "ann", 2, now),
        order("bob", 200, now, 1),
        at(EventKind.CHAT, "cai", 5, now),
        order("dan", 50, now, 1),
        order("dan", 20, now, 2),
        order("dan", 10, now, 3),
        at(EventKind.JOIN, "eve", 40, now),
    ]
    rules = load_rules()
    ledger = Ledger(redis, rules, clock=lambda: now, history=True)
    await write_history(ledger, Aggregates(redis, rules), events)


async def get(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_cohort_report_gives_the_exact_figures_of_a_scripted_history(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    # The fixture's members (every tier, pinned, no orders) are there already.
    before = await get(client, "/api/metrics/cohorts")
    assert before["second_purchase"]["buyers"] == 0
    await scripted(redis, now_ms())
    data = await get(client, "/api/metrics/cohorts")
    assert data["members"] == before["members"] + 5
    assert data["retained_days"] == 30
    assert [c for c in data["cohorts"] if c["month"].startswith("2025")] == [
        {
            "month": "2025-01",
            "members": 3,
            "retained": 2,
            "retention": 0.6667,
            "buyers": 2,
            "conversion": 0.6667,
            "repeat_buyers": 1,
            "median_days_to_second": 10.0,
        },
        {
            "month": "2025-03",
            "members": 2,
            "retained": 1,
            "retention": 0.5,
            "buyers": 1,
            "conversion": 0.5,
            "repeat_buyers": 1,
            "median_days_to_second": 30.0,
        },
    ]
    assert data["second_purchase"] == {
        "buyers": 3,
        "repeat_buyers": 2,
        "repeat_rate": 0.6667,
        "measured": 2,
        "median_days": 20.0,
        "within_days": [7, 30, 90, 365],
        "counts": [0, 2, 0, 0, 0],
    }
    # Each member's tier and decayed score as explain shows them, placed by the report.
    scores: dict[str, list[float]] = {}
    for member in ("ann", "bob", "cai", "dan", "eve"):
        explained = await get(client, f"/api/members/{member}/explain")
        scores.setdefault(explained["tier"], []).append(explained["score"])
    by_tier, old = data["score_by_tier"], before["score_by_tier"]
    added = {t: v["members"] - old[t]["members"] for t, v in by_tier.items()}
    assert {t: n for t, n in added.items() if n} == {t: len(v) for t, v in scores.items()}
    edges = data["score_edges"]
    for tier, values in scores.items():
        expected = [
            sum(1 for v in values if lo <= v < hi)
            for lo, hi in zip(edges, [*edges[1:], float("inf")], strict=True)
        ]
        new = [a - b for a, b in zip(by_tier[tier]["buckets"], old[tier]["buckets"], strict=True)]
        assert new == expected
        # Scores decay between the report and the explain reads: a 0.885 read once may be
        # rounded to 0.88 in the report (seen in a clean-clone run), so within a cent.
        highest = max([*values, old[tier]["max"] or 0.0])
        assert by_tier[tier]["max"] == pytest.approx(highest, abs=0.011)


async def test_cohort_report_of_an_empty_community_and_without_the_key(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    await redis.flushdb()
    data = await get(client, "/api/metrics/cohorts")
    assert data["members"] == 0 and data["cohorts"] == []
    assert data["second_purchase"]["median_days"] is None
    assert data["score_by_tier"]["core"] == {
        "members": 0,
        "p25": None,
        "median": None,
        "p75": None,
        "max": None,
        "buckets": [0] * 7,
    }
    response = await client.get("/api/metrics/cohorts")
    assert response.status == 401
    assert (await response.json())["error"]["code"]
