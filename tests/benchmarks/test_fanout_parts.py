"""The fan-out benchmark's pure parts: the bots' frame counter and the INVALID verdicts."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.rtp import RtpPacket

from benchmarks._peers import FanoutTimes, FrameCounter
from benchmarks.fanout_report import (
    Config,
    Window,
    e2e_percentiles,
    floor_table,
    frame_latencies,
    packet_rate,
    per_packet_us,
)


def packet(seq: int, ts: int, marker: int) -> RtpPacket:
    return RtpPacket(
        payload_type=96, sequence_number=seq, timestamp=ts, marker=marker, payload=b"x"
    )


def test_the_bots_count_only_frames_whose_every_packet_arrived() -> None:
    counts = {f"video_{w}": 0 for w in ("frames", "bytes", "packets")}
    first = asyncio.Event()
    count = FrameCounter("video", counts, first)
    for p in (packet(1, 100, 0), packet(2, 100, 1)):  # whole
        count(p, 0)
    for p in (packet(3, 200, 0), packet(5, 200, 1)):  # 4 lost: incomplete
        count(p, 0)
    for p in (packet(6, 300, 0), packet(7, 300, 0), packet(8, 300, 1)):  # whole
        count(p, 0)
    assert counts == {"video_frames": 2, "video_bytes": 7, "video_packets": 7}
    assert first.is_set()


def window(bot_cpu: list[float], bot_cores: int = 1) -> Window:
    subs = [{"who": "s0", "video_frames": 30, "audio_frames": 50}]
    return Window(1.0, 0.1, 30, 1500, subs, bot_cores=bot_cores, bot_cpu=bot_cpu)


def test_a_point_where_the_bots_were_the_limit_is_invalid() -> None:
    config = Config("packets", 1, windows=[window([0.95, 0.05])])
    assert any("the bots, not the server" in p for p in config.problems())
    assert Config("packets", 1, windows=[window([0.5, 0.5], bot_cores=2)]).problems() == []
    assert Config("packets", 1, windows=[window([0.5, 0.45])]).problems() != []


def test_added_latency_spreads_each_packets_fan_out_over_its_subscribers() -> None:
    times = FanoutTimes()
    times(0.000_100, 4)  # subscribers served at 25, 50, 75, 100 µs
    times(0.000_040, 0)  # nobody to send to: not a sample
    assert times.take() == {"p50_us": 75.0, "p95_us": 100.0, "p99_us": 100.0}
    assert times.take() == {}
    times(0.000_100, 4, 0.000_020)  # 20 µs of the thread's CPU for 4 sends
    times(0.000_100, 2, 0.000_010)
    times(0.000_100, 3, -1.0)  # not sampled: its sends do not count
    assert times.take()["cpu_per_send_us"] == 5.0


def test_end_to_end_latency_matches_frames_through_a_relays_timestamp_shift() -> None:
    sent = [(3000 * i + nudge, 10.0 + i / 30) for i, nudge in enumerate([5, 80, 13, 41, 0, 66])]
    shift = 0xFFFFFFFF - 6000  # the relay's own timestamp base: the sum wraps
    # Frames 1-4 arrive complete, 7 ms after capture; frame 5's timestamp was never sent.
    received = [((pts + shift) & 0xFFFFFFFF, at + 0.007) for pts, at in sent[1:5]]
    received.append(((3000 * 9 + shift) & 0xFFFFFFFF, 99.0))
    latencies = frame_latencies(sent, received)
    assert len(latencies) == 4
    assert all(abs(x - 0.007) < 1e-9 for x in latencies)
    # Timestamps without the publisher's nudges: no shift fits them, nothing is matched.
    regular = [((3000 * i + shift) & 0xFFFFFFFF, t) for i, (_, t) in enumerate(sent)]
    assert frame_latencies(sent, regular) == []
    assert e2e_percentiles(sent, [received]) == {"p50_ms": 7.0, "p95_ms": 7.0, "frames": 4.0}


def test_a_point_where_a_subscriber_got_under_half_the_frames_is_invalid() -> None:
    def lagging(fps: int) -> Window:
        subs = [{"who": "s0", "video_frames": fps, "audio_frames": 50}]
        return Window(1.0, 0.1, 30, 1500, subs, bot_cpu=[0.1])

    assert any("starved" in p for p in Config("packets", 1, windows=[lagging(7)]).problems())
    assert Config("packets", 1, windows=[lagging(28)]).problems() == []


def test_cpu_per_packet_divides_the_marginal_cpu_by_each_subscribers_packet_rate() -> None:
    """The µs/pkt column: (CPU(N) - CPU(0)) / N over the packets a second a subscriber got."""
    base = Config("packets", 0, windows=[Window(2.0, 0.10, 30, 1500, [])])
    subs = [{"who": f"s{i}", "video_packets": 300, "audio_frames": 100} for i in range(2)]
    loaded = Config("packets", 2, windows=[Window(2.0, 0.14, 30, 1500, subs)])
    # 0.02 of a core per subscriber, 200 packets a second each: 100 µs a packet.
    assert per_packet_us([base, loaded]) == {2: pytest.approx(100.0)}
    # What the server says it sent wins over what the bots got (a bot may drop some).
    sent = Config("packets", 2, windows=[Window(2.0, 0.14, 30, 1500, subs, forwarded=800.0)])
    assert per_packet_us([base, sent]) == {2: pytest.approx(50.0)}


def test_the_floor_says_which_targets_are_below_one_protect_and_one_send(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A target cheaper than the floor is reported as out of reach, with the figures."""
    subs = [
        {"who": f"s{i}", "video_bytes": 3000, "audio_bytes": 400, "video_packets": 6}
        for i in range(2)
    ]
    sent = Config("packets", 2, windows=[Window(2.0, 0.14, 30, 1500, subs, forwarded=800.0)])
    # 400 packets a second to each, 1,700 payload bytes a second: 4.25 + 12 bytes a packet.
    assert packet_rate([sent]) == pytest.approx((400.0, 16.25))
    # Floor 10 µs × 200/s = 0.2 % of a core; frames at 0.6 % needs 0.24 % (reachable),
    # transcode at 9 % needs 0.15 % (below the floor).
    slopes: dict[str, float | None] = {
        "packets": 0.003,
        "frames": 0.006,
        "transcode": 0.09,
        "janus": 0.004,
    }
    found = floor_table(10.0, 200.0, slopes)
    assert found["floor_share"] == pytest.approx(0.002)
    assert found["frames"] == {"needed": pytest.approx(0.0024), "reachable": True}
    assert found["transcode"] == {"needed": pytest.approx(0.0015), "reachable": False}
    assert "janus" not in found  # a ceiling (within 3×), not a floor target
    out = capsys.readouterr().out
    assert "transcode" in out and "BELOW the floor" in out
    assert "frames" in out and "0.040% above the floor" in out
