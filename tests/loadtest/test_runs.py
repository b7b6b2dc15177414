"""The load tester end to end: small scenarios against a real server, figures checked
against what the server itself recorded (its event stream in Redis, its /metrics)."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from loadtest.scrape import parse as parse_metrics
from loadtest.spawn import SpawnedServer
from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from tests.loadtest.conftest import (
    ctrl_c_when,
    finish_tool,
    run_tool,
    scenario_file,
    start_tool,
)


def recorded(server: SpawnedServer, room: str) -> Counter[str]:
    """Events the server wrote for ``room``, by kind (and role or action)."""
    client = redis.Redis.from_url(server.redis.url)
    try:
        entries: list[Any] = list(client.xrange(STREAM_KEY) or [])
    finally:
        client.close()
    counts: Counter[str] = Counter()
    for _, fields in entries:
        event = decode(fields[STREAM_FIELD])
        if event.room_id == room:
            detail = (
                event.data.get("role") if event.kind.value == "join" else event.data.get("action")
            )
            counts[f"{event.kind.value}:{detail}"] += 1
    return counts


def metrics(server: SpawnedServer) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


CHAT = """
name = "chat-check"
duration = 3
[members]
count = 6
rate = 30
encoding = "mixed"
[chat]
rate = 0.8
[reactions]
rate = 0.5
"""


def test_a_chat_scenario_reports_what_the_server_recorded(
    salon: SpawnedServer, tmp_path: Path
) -> None:
    run = run_tool(salon, scenario_file(tmp_path, CHAT), tmp_path / "out")
    assert run.code == 0, run.output
    report = run.report
    room = report["target"]["room"]
    server = recorded(salon, room)
    people = 6 + 1  # members and the host

    joins = report["joins"]
    assert joins["members_admitted"] == server["join:member"] == 6
    assert joins["host_admitted"] == server["join:host"] == 1
    assert joins["failed"] == 0 and report["errors"] == {}
    assert joins["latency_ms"]["count"] == people
    assert (
        0 < joins["latency_ms"]["p50"] <= joins["latency_ms"]["p95"] <= joins["latency_ms"]["max"]
    )

    chat = report["interactions"]["chat"]
    assert chat["accepted"] == server["chat:send"] > 0
    assert chat["accepted"] <= chat["sent"] == report["messages"]["sent"]["chat_send"]
    # Every accepted line reaches everyone in the room, give or take the edges of the run.
    assert 0.8 * chat["accepted"] * people <= chat["deliveries"] <= chat["accepted"] * people
    assert report["latency_ms"]["delivery:chat"]["count"] == chat["deliveries"]
    assert report["interactions"]["reactions"]["sent"] == server["reaction:None"]

    received = report["messages"]["received"]
    assert received["joined"] == people
    # Joins and leaves come in deltas: everyone hears at least the one with their own join.
    assert received["presence"] >= people
    assert received["chat"] == chat["deliveries"]

    # The tool's own cross-check was not asked for (no --redis-url) …
    assert report["consistency"] is None
    # … but it read the server's /metrics while the room was full.
    assert report["server"]["participants_peak"] == people
    assert report["server"]["failed_reads"] == 0
    after = metrics(salon)
    assert after.get("salon_participants{role=member}", 0) == 0  # everyone left
    assert "process_cpu_seconds_total" in after and "process_resident_memory_bytes" in after
    assert "salon_media_forwarded_packets_total" in after

    assert "<svg" in run.html and "Join latency" in run.html


def test_ctrl_c_stops_the_bots_cleanly_and_still_writes_the_report(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it, to the whole process group, during a long run.

    Regression: a ``--spawn-server`` server in that group stopped at once, so the bots
    could not leave and the last figures were lost."""
    path = scenario_file(
        tmp_path, 'name = "long"\nduration = 120\n[members]\ncount = 4\nrate = 40\n'
    )
    out = tmp_path / "out"
    process = start_tool(None, path, out)
    assert process.stdout is not None
    url = ""
    while not url:
        line = process.stdout.readline()
        assert line, "the load tester ended before it prepared the room"
        if " members on " in line:
            url = line.split(" members on ", 1)[1].strip().rstrip("…")

    def everyone_in() -> bool:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            values = parse_metrics(response.read().decode())
        return sum(v for k, v in values.items() if k.startswith("salon_participants{")) == 5

    ctrl_c_when(process, everyone_in)
    run = finish_tool(process, out)
    assert run.code == 130, run.output
    report = run.report
    assert report["tool"]["interrupted"] is True and report["tool"]["elapsed_s"] < 60
    assert "interrupted: figures cover the run up to the interrupt" in report["warnings"]
    assert report["bots"]["joined"] == 5
    assert report["bots"]["left"] == 5 and report["bots"]["dropped"] == 0
    # The server saw every bot join and leave (its event stream, read by the tool).
    assert report["server_recorded"]["join:member"] == 4
    assert report["server_recorded"]["leave"] == 5
    assert all(row["match"] for row in report["consistency"].values()), report["consistency"]
    assert report["server"]["participants_peak"] == 5


MEDIA = """
name = "media-check"
duration = 4
[members]
count = 2
rate = 10
[host]
publish = true
width = 320
height = 240
max_kbps = 400
[media]
subscribers = -1
receive = "{receive}"
"""


@pytest.mark.media
@pytest.mark.parametrize("receive", ["frames", "packets"])
def test_media_bots_receive_the_host_and_count_what_the_server_forwarded(
    salon: SpawnedServer, tmp_path: Path, receive: str
) -> None:
    scenario = scenario_file(tmp_path, MEDIA.format(receive=receive))
    run = run_tool(salon, scenario, tmp_path / "out")
    assert run.code == 0, run.output
    report = run.report
    media = report["media"]
    assert media["published"] == 1 and media["publish_failures"] == 0
    assert media["subscribers"] == media["receiving_video"] == 2
    assert media["first_frame_ms"]["count"] == 2
    assert media["decoded_frames"] == 0
    assert media["video_frames"] > 2 * 2 * 20  # ≥ 20 fps for 2 s, each
    assert media["audio_frames"] > 2 * 2 * 40
    assert media["packets_lost"] <= 0.02 * media["packets_expected"]
    # The server's count of forwarded packets, read just before the bots left, is what
    # the bots received give or take the last second.
    forwarded = report["server"]["forwarded_packets"]
    assert 0.8 * media["packets_received"] <= forwarded <= 1.1 * media["packets_received"]
    assert recorded(salon, report["target"]["room"])["join:member"] == 2
    assert "Time to first video frame" in run.html


def test_refused_joins_are_counted_once_by_their_code(salon: SpawnedServer, tmp_path: Path) -> None:
    """Members of a tier the room does not admit: each refusal is one ``tier_too_low``."""
    text = (
        'name = "refused"\nduration = 1\n[room]\ntiers = ["core"]\n'
        '[members]\ncount = 5\nrate = 50\ntier = "silent"\n'
    )
    run = run_tool(salon, scenario_file(tmp_path, text), tmp_path / "out")
    assert run.code == 0, run.output
    report = run.report
    assert report["errors"] == {"tier_too_low": 5}
    assert report["joins"]["failed"] == 5 and report["joins"]["members_admitted"] == 0
    assert report["joins"]["host_admitted"] == 1
    assert recorded(salon, report["target"]["room"])["join:member"] == 0
    assert "5 bot(s) were not admitted" in report["warnings"]
