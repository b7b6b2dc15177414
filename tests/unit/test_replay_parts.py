"""The description of a replay recorded in parts (issue 11, hand-overs): timeline offsets
move with their part, counts add up, an owner killed before it wrote anything leaves its
part without a timeline, and a part that held nothing is listed as such."""

from __future__ import annotations

from typing import Any

from server.rooms.media import Span
from server.rooms.replay_parts import joined_meta

ABOUT = {"session": "s1", "room_id": "vip", "title": "VIP", "host": "host-b"}


def part(started_ms: int, lines: list[tuple[str, float]], frames: int) -> dict[str, Any]:
    return {
        "started_ms": started_ms,
        "host": "host-a",
        "recorded": {"video_frames": frames, "audio_frames": 2 * frames, "width": 640},
        "timeline": [{"kind": "chat", "text": text, "t": t} for text, t in lines],
    }


def test_timelines_move_with_their_parts_and_counts_add_up() -> None:
    metas = [
        part(1000, [("z", 0.1), ("a", 0.5), ("b", 2.0)], 60),
        part(9000, [("c", 0.1), ("d", 1.5)], 30),
    ]
    spans = [Span(0, 300, 2500, 200), Span(2540, 400, 1800, 90)]
    meta = joined_meta(ABOUT, metas, spans, ended_ms=20_000)
    assert [(e["text"], e["t"]) for e in meta["timeline"]] == [
        ("z", 0.0),  # before its part's first frame (0.3 s): at the part's start
        ("a", 0.2),
        ("b", 1.7),
        ("c", 2.54),  # 0.1 s is before part 2's first frame (0.4 s): at its start
        ("d", 3.64),  # 2.54 + 1.5 - 0.4
    ]
    assert meta["duration_ms"] == 2540 + 1800
    assert meta["recorded"]["video_frames"] == 90 and meta["recorded"]["audio_frames"] == 180
    assert (meta["started_ms"], meta["ended_ms"], meta["host"]) == (1000, 20_000, "host-a")
    assert [(p["part"], p["offset_ms"], p["duration_ms"]) for p in meta["parts"]] == [
        (1, 0, 2500),
        (2, 2540, 1800),
    ]
    assert (meta["session"], meta["room_id"], meta["title"]) == ("s1", "vip", "VIP")


def test_a_killed_owners_part_has_no_timeline_and_an_empty_part_is_listed_empty() -> None:
    metas = [None, part(9000, [("c", 1.0)], 30), None]
    spans = [Span(0, 0, 4000, 300), Span(4040, 500, 1000, 50), None]
    meta = joined_meta(ABOUT, metas, spans, ended_ms=20_000)
    assert [(e["text"], e["t"]) for e in meta["timeline"]] == [("c", 4.54)]
    assert meta["parts"][2] == {"part": 3, "offset_ms": None, "duration_ms": 0}
    assert meta["duration_ms"] == 5040
    assert meta["started_ms"] == 9000


def test_with_no_description_at_all_the_times_come_from_the_end() -> None:
    meta = joined_meta(ABOUT, [None], [Span(0, 0, 3000, 100)], ended_ms=20_000)
    assert (meta["started_ms"], meta["host"], meta["timeline"]) == (17_000, "host-b", [])
