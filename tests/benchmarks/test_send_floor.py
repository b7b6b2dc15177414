"""The floor benchmark on real sockets: every packet it sends is read, figures are positive."""

from __future__ import annotations

import pytest

from benchmarks import send_floor
from benchmarks.fanout import floor_section
from benchmarks.fanout_report import Config, Window


def test_the_floor_sends_to_every_subscriber_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = send_floor.main(
        ["--subscribers", "5", "--rate", "100", "--seconds", "0.2", "--repeats", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "400 of 400 packets read" in out  # from Python, then from C
    floor = send_floor.measure_floor(3, 200, 100.0, 0.1, 1)
    assert floor.sent == floor.received == 60
    assert floor.send_us > 0 and floor.protect_us > 0 and floor.c_us > 0
    assert floor.total_us == pytest.approx(floor.send_us + floor.protect_us)


def test_bad_arguments_are_refused_with_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert send_floor.main(["--size", "5"]) == 2
    assert "--size from 12 to 1400" in capsys.readouterr().err


def test_the_fanout_run_measures_the_floor_at_the_packet_paths_rate_and_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``benchmarks.fanout``'s last step, on a measured packet path: 2 subscribers sent
    100 packets a second each (600 payload bytes a packet), and the targets against it."""
    subs = [{"who": f"s{i}", "video_bytes": 60_000, "audio_bytes": 0} for i in range(2)]
    packets = [
        Config("packets", 0, windows=[Window(1.0, 0.01, 30, 1500, [])]),
        Config("packets", 2, windows=[Window(1.0, 0.02, 30, 1500, subs, forwarded=200.0)]),
    ]
    slopes = {"packets": 0.004, "frames": 0.5, "transcode": None, "janus": 0.004}
    found = floor_section({"packets": packets}, {"fitted_slope": slopes}, (None, None), 0.2, 1)
    out = capsys.readouterr().out
    assert "send floor: 2 subscribers, 612-byte packets, 100/s each" in out
    assert "80 of 80 packets read" in out
    assert found is not None and found["rate"] == pytest.approx(100.0)
    assert found["send_us"] > 0 and found["protect_us"] > 0
    assert found["floor_us"] > 0 and found["python_us"] > 0  # the floor: from C
    assert found["frames"]["reachable"] is True  # 0.5 / 2.5 = 0.2 of a core a subscriber
