"""The load tester's pure parts: histograms, mark matching, stamps, scenarios, plans, RTP
counting, metrics parsing and the report page. Fast, no server."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from loadtest import svg, wire
from loadtest.admin import Cast
from loadtest.burst_table import HEADER, duration, row
from loadtest.media import RtpCounter
from loadtest.plan import SETTLE, make_plan
from loadtest.report_html import render
from loadtest.scenario import ScenarioError, builtin, load, parse
from loadtest.scrape import parse as parse_metrics
from loadtest.stats import Histogram, Recorder, Totals


def exact_percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]


def test_histogram_percentiles_are_within_a_bucket_of_the_exact_ones() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(2, 1) for _ in range(20_000)]
    hist = Histogram()
    for value in values:
        hist.add(value)
    for q in (50, 90, 95, 99):
        exact = exact_percentile(values, q)
        assert hist.percentile(q) == pytest.approx(exact, rel=0.02)
    assert hist.count == len(values)
    assert hist.max == max(values) and hist.min == min(values)


def test_histograms_merge_across_processes_as_if_recorded_in_one() -> None:
    one, left, right = Histogram(), Histogram(), Histogram()
    for i in range(1, 1001):
        one.add(i / 10)
        (left if i % 3 else right).add(i / 10)
    merged = Histogram.from_wire(left.to_wire())
    merged.merge(Histogram.from_wire(right.to_wire()))
    assert merged.summary() == one.summary()


def test_totals_merge_deltas_and_match_marks_with_the_latest_earlier_send() -> None:
    totals = Totals()
    t0 = time.time()
    totals.start(t0)
    sender, receiver = Recorder(t0), Recorder(t0)
    sender.count("sent:chat_send", 2, series="sent")
    sender.mark_sent("seat:p7", t0 + 1.0)
    sender.mark_sent("seat:p7", t0 + 5.0)  # the same person seated a second time
    receiver.mark_seen("seat:p7", t0 + 5.020)
    receiver.mark_seen("unseat:p7", t0 + 6.0)  # its send arrives with a later delta
    totals.merge(receiver.take())
    totals.merge(sender.take())
    assert totals.hists["delivery:seat"].count == 0  # too fresh: the sender may lag
    totals.flush()
    assert totals.counters["sent:chat_send"] == 2
    assert totals.hists["delivery:seat"].count == 1
    assert totals.hists["delivery:seat"].max == pytest.approx(20, abs=0.5)
    assert totals.unmatched == 1
    late = Recorder(t0)
    late.mark_sent("unseat:p7", t0 + 5.990)
    totals.merge(late.take())
    totals.flush()
    assert totals.unmatched == 0
    assert totals.hists["delivery:unseat"].max == pytest.approx(10, abs=0.5)


def test_recorder_take_hands_over_and_starts_afresh() -> None:
    rec = Recorder()
    rec.count("join:ok", series="joins")
    rec.latency("join", 12.5, series="join")
    first = rec.take()
    assert first["counters"] == {"join:ok": 1}
    assert first["hists"]["join"]["n"] == 1
    assert rec.take()["counters"] == {}


def test_stamps_round_trip_and_other_texts_are_not_stamps() -> None:
    text = wire.stamp("hello", "lt-abc-m3", 42, sent_ns=1_700_000_000_123_456_789)
    assert wire.read_stamp(text) == ("lt-abc-m3", 42, 1_700_000_000_123_456_789)
    assert wire.read_stamp("[lt oops] hello") is None
    assert wire.read_stamp("hello") is None
    for binary in (False, True):
        frame = wire.encode({"type": "chat_send", "text": text}, binary)
        assert wire.decode(frame) == {"type": "chat_send", "text": text}


def test_every_builtin_scenario_loads() -> None:
    names = {s.name for s in builtin()}
    assert {"burst-join", "chat-storm", "qa", "stage-churn", "media-fanout"} <= names


def test_an_unknown_key_stops_the_scenario_and_names_it() -> None:
    with pytest.raises(ScenarioError, match=r"chat\.speed"):
        parse({"chat": {"speed": 3}}, "x")
    with pytest.raises(ScenarioError, match=r"members\.count must be a whole number"):
        parse({"members": {"count": 2.5}}, "x")
    with pytest.raises(ScenarioError, match="no scenario"):
        load("no-such-scenario")


def test_flags_override_the_scenario() -> None:
    scenario = load("burst_join").with_overrides(members=1000, rate=50, duration=12)
    assert (scenario.members.count, scenario.members.rate, scenario.duration) == (1000, 50, 12)


def _cast(count: int) -> Cast:
    members = [f"m{i}" for i in range(count)]
    return Cast("room", "host", members, "host-token", [f"t{i}" for i in range(count)])


def test_plan_joins_members_at_the_rate_and_splits_them_into_processes() -> None:
    scenario = parse({"members": {"count": 4500, "rate": 50}, "duration": 10}, "x")
    plan = make_plan(scenario, _cast(4500))
    starts = [s.start_at for _, specs in plan.groups for s in specs]
    assert starts[:3] == [0.0, 0.02, 0.04]
    assert plan.length == pytest.approx(4499 / 50 + 2)
    assert [len(specs) for _, specs in plan.groups] == [2000, 2000, 500]
    assert plan.host is not None and plan.host.kind == "host"


def test_plan_with_steps_holds_each_subscriber_count_and_measures_after_it_settles() -> None:
    data = {
        "members": {"count": 100, "rate": 20},
        "host": {"publish": True},
        "media": {"subscribers": -1, "steps": [10, 50, 100], "step_seconds": 20},
    }
    plan = make_plan(parse(data, "x"), _cast(100))
    assert [w.subscribers for w in plan.windows] == [0, 10, 50, 100]
    step_50 = plan.windows[2]
    assert step_50.start == pytest.approx(40 + 40 / 20 + SETTLE)
    assert step_50.end == 60
    assert plan.length == 80
    media = [s for _, specs in plan.groups for s in specs]
    assert all(s.kind == "media" for s in media)
    assert [len(specs) for _, specs in plan.groups] == [50, 50]
    # Fewer members than the last step: the last step is all of them.
    fewer = parse({**data, "members": {"count": 30, "rate": 20}}, "x")
    assert fewer.steps == (10, 30)


def test_rtp_counter_counts_loss_across_a_sequence_wrap_and_credits_retransmissions() -> None:
    counter = RtpCounter("video")
    seqs = [65530 + i for i in range(12)]  # wraps past 65535
    for i, seq in enumerate(seqs):
        if i in (3, 7):
            continue  # lost
        counter.add(1111, seq & 0xFFFF, 3000 * i, 1000)
    assert (counter.expected, counter.received, counter.lost) == (12, 10, 2)
    counter.add(2222, 1, 0, 1000)  # an RTX packet repairs one of them
    assert (counter.rtx, counter.lost) == (1, 1)


def test_metrics_text_is_flattened_with_labels() -> None:
    text = (
        "# TYPE salon_participants gauge\n"
        'salon_participants{role="member"} 12.0\n'
        'salon_participants{role="host"} 1.0\n'
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 3.5\n"
    )
    flat = parse_metrics(text)
    assert flat["salon_participants{role=member}"] == 12
    assert flat["process_cpu_seconds_total"] == 3.5


def test_charts_render_as_inline_svg() -> None:
    assert svg.lines("t", {"a": [(0, 1), (1, 3)]}).startswith("<svg")
    assert svg.bars("t", [(0, 2), (1, 0)]).startswith("<svg")
    assert svg.histogram("t", [[1.0, 1.02, 3], [10.0, 10.2, 1]]).startswith("<svg")
    assert "no data" in svg.lines("t", {"a": []})


def test_a_report_page_renders_from_a_minimal_report(tmp_path: Path) -> None:
    report = {
        "tool": {
            "command": "python -m loadtest run x",
            "started": None,
            "ended": None,
            "elapsed_s": 1.0,
        },
        "target": {"url": "http://127.0.0.1:1", "room": "r"},
        "pinning": "not pinned",
        "scenario": {"name": "x", "description": "d"},
        "warnings": ["a <warning>"],
        "bots": {"planned": {"members": 1, "host": 1}, "joined": 2, "failed": 0, "dropped": 0},
        "joins": {"latency_ms": {"count": 0}, "connect_ms": {"count": 0}, "per_second": []},
        "messages": {
            "sent_total": 0,
            "received_total": 0,
            "sent": {},
            "received": {},
            "sent_per_second": [],
            "received_per_second": [],
        },
        "delivery_ms": {"count": 0},
        "latency_ms": {},
        "histograms": {},
        "timeline": {
            "join_percentiles": [],
            "delivery_percentiles": [],
            "errors_per_second": [],
            "server": {},
            "bots_cpu": [],
        },
        "errors": {},
        "media": None,
        "server": None,
        "consistency": None,
    }
    page = render(report)
    assert "a &lt;warning&gt;" in page and "<script" not in page


def test_the_relay_counts_the_rtp_packets_aiortc_makes_of_a_forwarded_frame() -> None:
    from server.media.relay import VP8_CHUNK, rtp_packets

    assert VP8_CHUNK == 1296
    assert [rtp_packets("video", n) for n in (0, 1, 1296, 1297, 3 * 1296)] == [1, 1, 1, 2, 3]
    assert rtp_packets("audio", 4000) == 1


def test_the_burst_table_has_a_row_per_run_from_its_report() -> None:
    """Issue 17: messages per join at 500, 1,000 and 2,000 in one place, with the quiet."""
    report = {
        "joins": {"admitted": 1001, "latency_ms": {"p50": 4.97, "p95": 27.82, "p99": 54.55}},
        "bots": {"planned": {"members": 1000, "host": 1}},
        "server": {"cpu_mean": 0.175, "loop_lag_ms_p99": 35.962},
        "messages": {"per_join": {"presence": 29.55, "all": 30.55}},
        "server_core": {"others_mean": 0.69},
    }
    line = row(1000, (11.15, 8.85), report)
    assert line == (
        "| 1,000 | 11.2 → 8.8 | 69% | 1,001 of 1,001 | 5.0 / 27.8 / 54.5 | 0.175 | 36.0 "
        "| 29.55 | 30.55 |"
    )
    assert line.count("|") == HEADER.splitlines()[0].count("|")
    assert [duration(n, 50) for n in (500, 1000, 2000)] == [30, 30, 48]
