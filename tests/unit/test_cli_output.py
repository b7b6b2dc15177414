"""A status line is one write even on an unbuffered stream (``PYTHONUNBUFFERED=1``), so
processes sharing a log file (``salon scorer --processes 2``) never splice their lines."""

from __future__ import annotations

import io

import pytest

from server.cli.output import say


class Writes(io.RawIOBase):
    """A raw stream that keeps each ``write`` call apart."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.calls.append(data)
        return len(data)


def unbuffered() -> tuple[Writes, io.TextIOWrapper]:
    raw = Writes()
    return raw, io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("err", [False, True])
def test_a_line_and_its_newline_go_out_in_one_write(
    monkeypatch: pytest.MonkeyPatch, err: bool
) -> None:
    raw, stream = unbuffered()
    monkeypatch.setattr("sys.stderr" if err else "sys.stdout", stream)
    say("salon: scorer duo-0 stopped after 1617 events (24 tier changes)", err=err)
    say("salon: 2 scorer processes stopped", err=err)
    assert raw.calls == [
        b"salon: scorer duo-0 stopped after 1617 events (24 tier changes)\n",
        b"salon: 2 scorer processes stopped\n",
    ]


def test_print_would_have_split_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Why say() exists: the same stream takes print()'s text and newline apart.
    raw, stream = unbuffered()
    monkeypatch.setattr("sys.stdout", stream)
    print("salon: 2 scorer processes stopped", flush=True)
    assert raw.calls == [b"salon: 2 scorer processes stopped", b"\n"]
