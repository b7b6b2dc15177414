"""The publisher bots' synthetic video: the pattern encoded once (``encoded_pattern``) and
replayed as VP8 packets through aiortc's sender (``ReplayVideoTrack``), decoded on the
other side by libvpx (PyAV's, then aiortc's own receiver on real loopback peers)."""

from __future__ import annotations

import asyncio
import time

import av
import pytest
from av import VideoFrame

from loadtest.synthetic import ReplayVideoTrack, _is_key, encoded_pattern
from tests.loadtest.test_rtc_compat import CONNECT_TIMEOUT, pair


def test_the_encoded_loop_starts_on_a_key_frame_has_one_a_second_and_keeps_the_rate() -> None:
    loop = encoded_pattern(320, 240, 500)
    assert len(loop) == 60  # two seconds at 30 fps
    assert [i for i, frame in enumerate(loop) if _is_key(frame)] == [0, 30]
    kbps = sum(len(frame) for frame in loop) * 8 / 2 / 1000
    assert 350 <= kbps <= 650, kbps
    decoder = av.CodecContext.create("libvpx", "r")
    for lap in range(2):  # it wraps onto its key frame: a second lap decodes too
        for index, data in enumerate(loop):
            pictures = decoder.decode(av.Packet(data))
            assert len(pictures) == 1, (lap, index)
            assert (pictures[0].width, pictures[0].height) == (320, 240)


def test_the_loop_is_encoded_once_per_process() -> None:
    assert encoded_pattern(320, 240, 500) is encoded_pattern(320, 240, 500)


@pytest.mark.media
async def test_replayed_packets_reach_a_real_receiver_as_pictures_at_30_fps() -> None:
    track = ReplayVideoTrack(320, 240, 500)
    a, b = await pair(video=track)
    try:
        received = b.getTransceivers()[0].receiver.track
        async with asyncio.timeout(CONNECT_TIMEOUT):
            first = await received.recv()  # aiortc's receiver decoded it
        assert isinstance(first, VideoFrame)
        assert (first.width, first.height) == (320, 240)
        start, frames = time.monotonic(), 0
        while time.monotonic() - start < 2.0:
            picture = await received.recv()
            assert isinstance(picture, VideoFrame)
            frames += 1
        assert 45 <= frames <= 75, frames  # 60 at 30 fps, with room for a loaded machine
        assert track.frames_sent >= frames
    finally:
        await a.close()
        await b.close()
