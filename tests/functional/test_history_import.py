"""History import against a real Redis: as if lived, idempotent, bad rows reported."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from benchmarks.community import generate, members_csv, to_csv, to_jsonl
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.aggregates import Aggregates
from server.engagement.history_import import parse_events, write_history
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.rules import DAY_MS, load_rules
from server.engagement.scoring import MemberState, now_ms, score_now
from server.ids import MemberId
from tests.functional.conftest import ADMIN_KEY
from tests.support.cli import salon

RULES = load_rules()
SALON = Path(sys.executable).with_name("salon")


def summary(state: MemberState, tier: str | None, now: int) -> tuple[Any, ...]:
    return (
        tier,
        state.orders,
        state.revenue_minor,
        state.interactions,
        round(state.watch_seconds, 3),
        round(score_now(state, RULES, now), 6),
    )


async def test_an_imported_history_scores_exactly_as_the_same_events_lived(redis: Redis) -> None:
    """Regression (issue 14, cold start): loaded through the old import and events API,
    a community was tiered 72 % correctly; only purchases could be older than 30 days.
    Imported now, every member's score, counts, revenue and tier equal the lived ones."""
    now = now_ms()
    community = generate(40, seed=3, now_ms=now)
    since = now - 400 * DAY_MS
    store = MemberStore(redis)
    members = [m.member_id for m in community.members]

    async def enrol() -> None:
        for member in members:
            await store.upsert(member, None, None, mode="auto", since_ms=since, cause="test")

    # Lived: each day's events at the end of that day, then the tiers decided now.
    await enrol()
    clock = [0]
    lived_ledger = Ledger(redis, RULES, clock=lambda: clock[0])
    days: dict[int, list[Any]] = {}
    for event in community.events:
        days.setdefault(event.ts_ms // DAY_MS, []).append(event)
    for day in sorted(days):
        clock[0] = min(now, (day + 1) * DAY_MS - 1)
        await lived_ledger.apply(days[day])
    clock[0] = now
    await lived_ledger.review(members)
    lived = {}
    for member in members:
        state, _ = await lived_ledger.read(member)
        lived[member] = summary(state, state.tier.value if state.tier else None, now)

    await redis.flushdb()
    await enrol()
    parsed = parse_events(to_jsonl(community.events), "jsonl", RULES, now)
    assert not parsed.rejected and len(parsed.events) == len(community.events)
    ledger = Ledger(redis, RULES, clock=lambda: now, history=True)
    result = await write_history(ledger, Aggregates(redis, RULES), parsed.events)
    assert result.applied == len(community.events)
    for member in members:
        state, _ = await ledger.read(member)
        tier = state.tier.value if state.tier else None
        assert summary(state, tier, now) == lived[member], member
        truth = next(m for m in community.members if m.member_id == member)
        if truth.clear:
            assert tier == truth.truth.value, member


def write_files(tmp_path: Path) -> tuple[Path, Path]:
    now = now_ms()
    members = tmp_path / "members.csv"
    members.write_text("member_id,name\nann,Ann\nbob,Bob\n")
    old = now - 200 * DAY_MS
    events = tmp_path / "events.csv"
    events.write_text(
        "id,kind,member_id,at,room_id,watch_seconds,order_id,amount,currency\n"
        f"e1,chat,ann,{old},vip,,,,\n"  # line 2: 200 days old, in-room: accepted now
        f"e2,leave,ann,{old + 1000},vip,1800,,,\n"
        f"e3,purchase,ann,{old + 2000},,,A-1,120.00,EUR\n"
        f"e4,purchase,bob,{now - DAY_MS},,,B-1,50.00,USD\n"
        "e5,dance,ann,2025-01-01,,,,,\n"  # line 6: unknown kind
        "e6,chat,ann,yesterday,,,,,\n"  # line 7: bad time
        f"e7,chat,zed,{old},,,,,\n"  # line 8: not a member
        f"e8,purchase,ann,{old},,,A-2,10.00,SEK\n"  # line 9: no rate for SEK
        f"e1,chat,ann,{old},,,,,\n"  # line 10: id already on line 2
        f"e9,chat,ann,{now + 3600_000},,,,,\n"  # line 11: in the future
        f"e10,leave,ann,{old},,-5,,,\n"  # line 12: negative watch time
    )
    return members, events


async def test_salon_import_events_reports_bad_rows_and_imports_again_idempotently(
    redis: Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    members, events = write_files(tmp_path)
    code, out, err = await salon(
        redis_server, "import", "--members", str(members), "--events", str(events), "--dry-run"
    )
    assert code == 1, (out, err)
    assert "dry run: 4 of 11 rows good, 7 rejected; nothing written" in out
    assert await redis.dbsize() == 0
    for line, words in (
        (6, "kind 'dance' is not one of"),
        (7, "at 'yesterday' is not an ISO 8601 time"),
        (8, "member 'zed' is neither in the members file"),
        (9, "currency SEK has no rate"),
        (10, "id 'e1' is already on line 2"),
        (12, "watch_seconds '-5' must be a number from 0 to 86400"),
    ):
        assert f"{events} line {line}: {words}" in err, (line, err)
    assert re.search(r"line 11: at '\d+' is in the future", err), err

    code, out, err = await salon(
        redis_server, "import", "--members", str(members), "--events", str(events)
    )
    assert code == 1, (out, err)
    assert "4 applied, 0 already imported, 2 new orders, 2 members" in out
    assert "events: 4/4" in err  # the progress
    ledger = Ledger(redis, RULES)
    ann, _ = await ledger.read(MemberId("ann"))
    assert (ann.interactions, ann.watch_seconds, ann.orders, ann.revenue_minor) == (
        1,
        1800.0,
        1,
        12000,
    )
    bob, _ = await ledger.read(MemberId("bob"))
    assert (bob.orders, bob.revenue_minor) == (1, 4600)  # 50.00 USD at 0.92

    code, out, err = await salon(
        redis_server, "import", "--members", str(members), "--events", str(events)
    )
    assert "0 applied, 4 already imported, 0 new orders" in out, (out, err)
    again, _ = await ledger.read(MemberId("ann"))
    assert (again.interactions, again.score, again.orders) == (1, ann.score, 1)


async def test_the_bulk_endpoint_imports_jsonl_with_a_dry_run_first(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    await MemberStore(redis).upsert(MemberId("cy"), None, "Cy", mode="auto", cause="test")
    old = now_ms() - 100 * DAY_MS
    body = "\n".join(
        [
            json.dumps({"id": "x1", "kind": "question", "member_id": "cy", "at": old}),
            json.dumps(
                {
                    "id": "x2",
                    "kind": "leave",
                    "member_id": "cy",
                    "at": old,
                    "data": {"watch_seconds": 600},
                }
            ),
            "{not json",
            json.dumps({"id": "x3", "kind": "chat", "member_id": "nobody", "at": old}),
        ]
    )
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    dry = await client.post("/api/import/events?dry_run=1", data=body, headers=headers)
    answer = await dry.json()
    assert (answer["good"], answer["rejected_count"], answer["dry_run"]) == (2, 2, True)
    assert [(r["line"], r["code"]) for r in answer["rejected"]] == [
        (3, "bad_format"),
        (4, "unknown_member"),
    ]
    state, _ = await Ledger(redis, RULES).read(MemberId("cy"))
    assert state.interactions == 0
    for expected in (2, 0):
        resp = await client.post("/api/import/events", data=body, headers=headers)
        answer = await resp.json()
        assert resp.status == 200 and answer["applied"] == expected, answer
    state, _ = await Ledger(redis, RULES).read(MemberId("cy"))
    assert (state.interactions, state.watch_seconds) == (1, 600.0)
    refused = await client.post("/api/import/events", data=body)
    assert refused.status == 401


def test_csv_and_jsonl_of_the_same_events_parse_alike() -> None:
    community = generate(20, seed=5, now_ms=now_ms())
    now = now_ms()
    a = parse_events(to_csv(community.events), "csv", RULES, now)
    b = parse_events(to_jsonl(community.events), "jsonl", RULES, now)
    assert not a.rejected and not b.rejected
    assert [(e.id, e.kind, e.ts_ms, e.member_id) for e in a.events] == [
        (e.id, e.kind, e.ts_ms, e.member_id) for e in b.events
    ]
    assert members_csv(community).startswith("member_id,since\n")


async def test_rows_python_cannot_read_or_store_are_rejected_rows_not_a_server_error(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """Regression (OpenAPI fix-up after the tiers merge): a JSON Lines row nested too
    deeply, an integer beyond Python's digit limit or beyond a float, or a lone
    surrogate in a free-text field made ``POST /api/import/events`` answer 500 (with a
    traceback) and import nothing; ``NaN`` passed as a number. Each is now a rejected
    row with its code, and the good row after them (the marker) is imported."""
    await MemberStore(redis).upsert(MemberId("di"), None, "Di", mode="auto", cause="test")
    old = now_ms() - 10 * DAY_MS
    row = {"kind": "leave", "member_id": "di", "at": old}
    body = "\n".join(
        [
            "[" * 100_000 + "]" * 100_000,
            json.dumps({**row, "id": "y1"})[:-1] + ', "watch_seconds": ' + "9" * 5000 + "}",
            json.dumps({**row, "id": "y2"})[:-1] + ', "watch_seconds": ' + "9" * 400 + "}",
            json.dumps({**row, "id": "y3"})[:-1] + ', "watch_seconds": NaN}',
            json.dumps({"id": "y4", "kind": "share", "member_id": "di", "at": old})[:-1]
            + ', "channel": "\\ud800"}',
            json.dumps({**row, "id": "y5", "watch_seconds": 60}),
        ]
    )
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    resp = await client.post("/api/import/events", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert [(r["line"], r["code"]) for r in answer["rejected"]] == [
        (1, "bad_format"),
        (2, "bad_format"),
        (3, "bad_number"),
        (4, "bad_format"),
        (5, "bad_text"),
    ]
    assert (answer["good"], answer["applied"]) == (1, 1)
    state, _ = await Ledger(redis, RULES).read(MemberId("di"))
    assert state.watch_seconds == 60.0


async def test_salon_import_with_two_worker_processes_writes_what_one_process_writes(
    redis: Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """Members split between worker processes (``--workers 2``) end exactly as when one
    process imports them all: each member's events stay in one process."""
    now = now_ms()
    community = generate(30, seed=5, now_ms=now)
    members, events = tmp_path / "members.csv", tmp_path / "events.csv"
    members.write_text(members_csv(community))
    events.write_text(to_csv(community.events))
    results = []
    for workers in ("2", "1"):
        await redis.flushdb()
        code, out, err = await salon(
            redis_server,
            "import",
            "--members",
            str(members),
            "--events",
            str(events),
            "--workers",
            workers,
        )
        assert code == 0, (out, err)
        assert f"{len(community.events)} applied" in out and f"by {workers} process" in out
        ledger = Ledger(redis, RULES)
        states = {}
        for member in community.members:
            state, _ = await ledger.read(member.member_id)
            states[member.member_id] = summary(state, state.tier and state.tier.value, now)
        results.append(states)
    assert results[0] == results[1]
    assert {s[0] for s in results[0].values()} >= {"core", "active", "potential"}
