"""A session recorded in parts (issue 11: a room handed over between nodes) joined into
one WebM file: the parts' packets as they were written, one part after the other, nothing
decoded; a part whose node was killed mid-write is kept as far as it goes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.media.recorder_join import PART_GAP_MS, join_webm
from server.rooms.media import RoomMedia
from tests.media.conftest import Closing
from tests.media.peers import loopback_policy, publish_host
from tests.media.test_recording import media, read_webm
from tests.support.waiting import eventually

__all__ = ["media"]  # fixture
pytestmark = pytest.mark.media

PART_SECONDS = 1.5


async def record_parts(media: RoomMedia, closing: Closing, folder: Path) -> list[Path]:
    """Two recordings of the same live host, one after the other (two owners' parts)."""
    policy, _ = loopback_policy()
    closing(await publish_host(media, policy))
    feeds = [media.feeds["audio"], media.feeds["video"]]
    await eventually(lambda: all(f.frames_in > 10 for f in feeds), timeout=15, what="media in")
    parts = [folder / "one.webm", folder / "two.webm"]
    for path in parts:
        assert media.start_recording(path) is not None
        await asyncio.sleep(PART_SECONDS)
        stats = await media.stop_recording()
        assert stats is not None and stats.video_frames > 10 and stats.audio_frames > 10
    return parts


async def test_parts_are_joined_one_after_the_other_without_decoding(
    media: RoomMedia, closing: Closing, tmp_path: Path
) -> None:
    parts = await record_parts(media, closing, tmp_path)
    one, two = (read_webm(path) for path in parts)
    joined_path = tmp_path / "joined.webm"
    spans = await asyncio.to_thread(join_webm, parts, joined_path)
    joined = read_webm(joined_path)

    # Every packet of both parts, in order, with the bytes the publisher sent.
    for codec in ("vp8", "opus"):
        assert [bytes(p) for p in joined[codec]] == [bytes(p) for p in one[codec] + two[codec]], (
            codec
        )
    assert joined["vp8"][0].is_keyframe
    assert joined["vp8"][len(one["vp8"])].is_keyframe, "the second part starts on a key frame"

    first, second = spans
    assert first is not None and second is not None
    assert first.offset_ms == 0
    assert first.packets == len(one["vp8"]) + len(one["opus"])
    assert second.offset_ms == first.duration_ms + PART_GAP_MS
    # Part two's packets sit after part one's, from its offset on, and each lasts about
    # what was recorded.
    split = joined["vp8"][len(one["vp8"])].pts
    assert max(p.pts for p in joined["vp8"][: len(one["vp8"])]) < split
    assert abs(split - second.offset_ms) <= PART_GAP_MS
    for span in spans:
        assert span is not None
        assert abs(span.duration_ms / 1000 - PART_SECONDS) < 0.8, span
    # Times of the parts' timelines move with them.
    assert second.joined_s(second.first_ms / 1000 + 1.0) == round(second.offset_ms / 1000 + 1, 2)


async def test_a_part_cut_short_by_a_killed_node_is_kept_as_far_as_it_goes(
    media: RoomMedia, closing: Closing, tmp_path: Path
) -> None:
    parts = await record_parts(media, closing, tmp_path)
    recorded = sum(map(len, read_webm(parts[0]).values()))
    whole = parts[0].read_bytes()
    parts[0].write_bytes(whole[: len(whole) * 2 // 3])  # the node died while writing
    missing = tmp_path / "never-written.webm"
    spans = await asyncio.to_thread(join_webm, [parts[0], missing, parts[1]], tmp_path / "j.webm")

    cut, gone, second = spans
    assert gone is None
    assert cut is not None and second is not None
    joined = read_webm(tmp_path / "j.webm")
    two = read_webm(parts[1])
    assert 0 < cut.packets < recorded
    assert [bytes(p) for p in joined["vp8"][-len(two["vp8"]) :]] == [bytes(p) for p in two["vp8"]]
    assert len(joined["vp8"]) > len(two["vp8"])
