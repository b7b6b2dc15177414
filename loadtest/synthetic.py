"""Synthetic media for publisher bots: moving video that costs real bits, and a tone.

aiortc's own ``VideoStreamTrack`` sends plain green, which VP8 compresses to almost
nothing: neither the encoder nor a relay would be measured at a realistic bitrate. These
tracks are pre-built loops, so producing a frame costs a copy, not a render.
``media_source`` picks them, or a file played in a loop through aiortc's ``MediaPlayer``.
"""

from __future__ import annotations

import array
import asyncio
import math
import random
import time
from fractions import Fraction

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

WIDTH, HEIGHT = 640, 480
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960  # 20 ms Opus frames


def _triangle(period: int, length: int) -> bytes:
    half = period // 2
    return bytes(min(255, abs(i % period - half) * 256 // half) for i in range(length))


def _plane(
    width: int, height: int, stride: int, shift: int, patch: tuple[int, int, int, bytes] | None
) -> bytes:
    """A diagonal gradient moved by ``shift``, with an optional square of noise."""
    period = 512
    wave = _triangle(period, period + width + 1)
    pad = bytes(stride - width)
    rows: list[bytes] = []
    for y in range(height):
        start = (y + shift) % period
        row = wave[start : start + width]
        if patch is not None and patch[1] <= y < patch[1] + patch[2]:
            x, top, size, noise = patch
            line = noise[(y - top) * size : (y - top + 1) * size]
            row = row[:x] + line + row[x + size :]
        rows += (row, pad)
    return b"".join(rows)


class PatternVideoTrack(VideoStreamTrack):
    """30 fps video (640x480 by default) whose content changes every frame, from a loop.

    aiortc's ``VideoStreamTrack`` sends plain green, which VP8 compresses to almost
    nothing: neither encoding nor forwarding would be measured at a realistic bitrate.
    """

    def __init__(
        self, width: int = WIDTH, height: int = HEIGHT, loop_frames: int = 60, patch: int = 96
    ) -> None:
        super().__init__()
        self.width, self.height = width, height
        patch = min(patch, width // 2, height // 2)
        template = VideoFrame(width, height, "yuv420p")
        shapes = [(p.width, p.height, p.line_size, p.buffer_size) for p in template.planes]
        rng = random.Random(7)
        self._frames: list[list[bytes]] = []
        for t in range(loop_frames):
            x = (t * 9) % (width - patch)
            y = (t * 5) % (height - patch)
            noise = (x, y, patch, rng.randbytes(patch * patch))
            planes = []
            for index, (plane_w, plane_h, stride, size) in enumerate(shapes):
                data = _plane(
                    plane_w,
                    plane_h,
                    stride,
                    t * (6 if index == 0 else 2 + index),
                    noise if index == 0 else None,
                )
                planes.append(data[:size].ljust(size, b"\x80"))
            self._frames.append(planes)
        self.frames_sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(
            frame.planes, self._frames[self.frames_sent % len(self._frames)], strict=True
        ):
            plane.update(data)
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """48 kHz mono: a 440 Hz tone with a warble, so Opus has something to encode."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        samples = array.array(
            "h",
            (
                int(
                    9000
                    * math.sin(2 * math.pi * 440 * n / AUDIO_RATE)
                    * (0.6 + 0.4 * math.sin(2 * math.pi * 3 * n / AUDIO_RATE))
                )
                for n in range(AUDIO_RATE)  # one second: every partial completes whole cycles
            ),
        ).tobytes()
        step = AUDIO_SAMPLES * 2
        self._frames = [samples[i : i + step] for i in range(0, len(samples), step)]
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += AUDIO_SAMPLES
            await asyncio.sleep(self._start + self._pts / AUDIO_RATE - time.time())
        frame = AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(self._frames[(self._pts // AUDIO_SAMPLES) % len(self._frames)])
        frame.pts = self._pts
        frame.sample_rate = AUDIO_RATE
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame


def media_source(
    video_file: str | None, width: int = WIDTH, height: int = HEIGHT, audio: bool = True
) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    """(video, audio) tracks: a file played in a loop, or the synthetic pattern and tone."""
    if video_file:
        from aiortc.contrib.media import MediaPlayer

        player = MediaPlayer(video_file, loop=True)
        return player.video, player.audio if audio else None
    return PatternVideoTrack(width, height), ToneAudioTrack() if audio else None
