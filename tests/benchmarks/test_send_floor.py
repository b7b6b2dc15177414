"""The floor benchmark on real sockets: every packet it sends is read, figures are positive."""

from __future__ import annotations

import pytest

from benchmarks import send_floor


def test_the_floor_sends_to_every_subscriber_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = send_floor.main(
        ["--subscribers", "5", "--rate", "100", "--seconds", "0.2", "--repeats", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "200 of 200 packets read" in out
    floor = send_floor.measure_floor(3, 200, 100.0, 0.1, 1)
    assert floor.sent == floor.received == 30
    assert floor.send_us > 0 and floor.protect_us > 0
    assert floor.total_us == pytest.approx(floor.send_us + floor.protect_us)


def test_bad_arguments_are_refused_with_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert send_floor.main(["--size", "5"]) == 2
    assert "--size from 12 to 1400" in capsys.readouterr().err
