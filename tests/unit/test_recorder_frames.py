"""The recorder's pure parts and its queue (issue 16): VP8 frames from RTP payloads, RTP
clocks in milliseconds, and a full queue that drops instead of waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.media.recorder import WebmRecorder
from server.media.recorder_frames import MediaClock, Vp8Frames, vp8_size
from server.media.rtp_rewrite import InPacket

KEY = b"\x50\x01\x00\x9d\x01\x2a\x80\x02\xe0\x01" + b"k" * 20  # a 640x480 key frame
DELTA = b"\x51\x01\x00" + b"d" * 20


def start(data: bytes) -> bytes:
    return b"\x10" + data  # S=1, partition 0, no extension


def more(data: bytes) -> bytes:
    return b"\x00" + data


def test_frames_are_reassembled_from_key_frame_on() -> None:
    frames = Vp8Frames()
    assert frames.push(1, 100, True, start(DELTA), 0.0) is None  # no key frame yet
    assert frames.push(2, 200, False, start(KEY[:12]), 0.1) is None
    frame = frames.push(3, 200, True, more(KEY[12:]), 0.1)
    assert frame is not None and frame.data == KEY and frame.keyframe
    assert vp8_size(frame.data) == (640, 480)
    frame = frames.push(4, 300, True, start(DELTA), 0.2)
    assert frame is not None and frame.data == DELTA and not frame.keyframe


def test_a_lost_packet_drops_frames_until_the_next_key_frame() -> None:
    frames = Vp8Frames()
    assert frames.push(1, 100, True, start(KEY), 0.0) is not None
    assert frames.push(2, 200, False, start(DELTA), 0.1) is None
    # packet 3 (the end of frame 200) is lost
    assert frames.push(4, 300, True, start(DELTA), 0.2) is None
    assert frames.push(5, 400, True, start(KEY), 0.3) is not None
    assert frames.push(6, 500, True, start(DELTA), 0.4) is not None
    assert frames.frames_dropped == 2


def test_the_clock_unwraps_and_reanchors_on_a_jump() -> None:
    clock = MediaClock(90_000, start=10.0)
    assert clock.ms(0xFFFF_FF00, 10.5) == 500
    assert clock.ms((0xFFFF_FF00 + 90_000) & 0xFFFF_FFFF, 11.5) == 1500  # wrapped, +1 s
    assert clock.ms(123, 12.0) == 2000  # a new publisher: the wall clock decides
    assert clock.resyncs == 1


async def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    recorder = WebmRecorder(tmp_path / "r.webm", video=False, queue_packets=2)
    tap = recorder.tap("audio")
    for seq in range(5):  # the worker is not running yet: the queue fills up
        tap(InPacket(seq, seq * 960, 1, b"\xfc\xff\xfe"))
    assert recorder.stats.queue_dropped == 3
    recorder.start()
    stats = await asyncio.wait_for(recorder.stop(), 10)
    assert stats.audio_frames == 2 and not stats.failed


def test_a_new_stream_far_behind_starts_at_its_key_frame() -> None:
    """A second host's sequence numbers may start anywhere, behind the first's too: they
    were taken for late packets and the new host's video was never recorded."""
    frames = Vp8Frames()
    assert frames.push(40_000, 100, True, start(KEY), 0.0) is not None
    assert frames.push(40_001, 200, True, start(DELTA), 0.1) is not None
    assert frames.push(39_999, 100, True, start(KEY), 0.1) is None  # late: dropped
    # The new stream starts 20,000 behind: not late, another stream.
    assert frames.push(20_000, 900_000, True, start(DELTA), 0.2) is None  # no key frame yet
    assert frames.push(20_001, 903_000, True, start(KEY), 0.3) is not None
    assert frames.push(20_002, 906_000, True, start(DELTA), 0.4) is not None
