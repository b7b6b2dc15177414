"""``python -m loadtest run rooms`` end to end against a real server: many rooms at once,
one with media, and the report's counts set beside what the server recorded (its event
stream, its /metrics, its live rooms)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from loadtest.scrape import parse as parse_metrics
from loadtest.spawn import SpawnedServer
from tests.loadtest.conftest import run_tool
from tests.loadtest.test_runs import recorded

ROOMS, MEMBERS, SUBSCRIBERS = 3, 4, 2


def forwarded(server: SpawnedServer) -> float:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        figures = parse_metrics(response.read().decode())
    return figures.get("salon_media_forwarded_packets_total", 0.0)


def test_the_rooms_scenario_reports_what_the_server_recorded(
    salon: SpawnedServer, tmp_path: Path
) -> None:
    before = forwarded(salon)
    run = run_tool(
        salon, Path("rooms"), tmp_path / "out",
        "--rooms", str(ROOMS), "--members", str(MEMBERS), "--media-rooms", "1",
        "--subscribers", str(SUBSCRIBERS), "--duration", "4", "--redis-url", salon.redis.url,
    )  # fmt: skip
    assert run.code == 0, run.output
    report = run.report
    people = ROOMS * (MEMBERS + 1)  # members and a host per room
    assert report["invited"] == report["admitted"] == people
    assert report["refused"] == {} and report["errors"] == {}
    # The server's own records: join events per room in its stream, its live figures.
    joins = [recorded(salon, room) for room in report["rooms"]]
    assert [(j["join:member"], j["join:host"]) for j in joins] == [(MEMBERS, 1)] * ROOMS
    assert report["server_joins"] == people
    assert (report["server"]["participants"], report["server"]["rooms"]) == (people, ROOMS)
    assert report["server"]["scope"] == "cluster" and report["server"]["nodes"] == 1
    # Media: both subscriber bots received, and never more than the server forwarded.
    media = report["media"]
    assert media["receiving_bots"] == SUBSCRIBERS
    assert 0 < media["packets"] <= forwarded(salon) - before
    assert media["lost"] <= media["expected"] * 0.05
    assert report["join_ms"]["p50"] <= report["join_ms"]["p95"]
    assert report["server"]["cores_used"] is not None and report["server"]["cores_used"] > 0
    assert report["kill"] is None
