"""Synthetic media for publisher bots: moving video that costs real bits, and a tone.

aiortc's own ``VideoStreamTrack`` sends plain green, which VP8 compresses to almost
nothing: neither the encoder nor a relay would be measured at a realistic bitrate. These
tracks are pre-built loops, so producing a frame costs a copy, not a render.
``media_source`` picks them, or a file played in a loop through aiortc's ``MediaPlayer``.

``ReplayVideoTrack`` is the same pattern encoded once (libvpx through PyAV, a key frame
every second) and handed to aiortc as encoded packets, which its sender packetizes
without encoding: a publisher bot then costs about what a browser's network stack does,
not a VP8 encoder's core, so a load test's bots leave the cores to the server they
measure. It cannot make a key frame on request; a new subscriber waits for the next one
(at most a second).
"""

from __future__ import annotations

import array
import asyncio
import functools
import math
import random
import time
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

WIDTH, HEIGHT = 640, 480
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960  # 20 ms Opus frames
VIDEO_RATE, VIDEO_CLOCK = 30, 90000
REPLAY_KBPS = 1500  # what aiortc's encoder reaches under the server's REMB (its cap)


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


def pattern_planes(
    width: int, height: int, loop_frames: int = 60, patch: int = 96
) -> list[list[bytes]]:
    """The YUV 4:2:0 planes of a loop whose content changes every frame."""
    patch = min(patch, width // 2, height // 2)
    template = VideoFrame(width, height, "yuv420p")
    shapes = [(p.width, p.height, p.line_size, p.buffer_size) for p in template.planes]
    rng = random.Random(7)
    frames: list[list[bytes]] = []
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
        frames.append(planes)
    return frames


def _frame(width: int, height: int, planes: list[bytes]) -> VideoFrame:
    frame = VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes, strict=True):
        plane.update(data)
    return frame


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
        self._frames = pattern_planes(width, height, loop_frames, patch)
        self.frames_sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = _frame(self.width, self.height, self._frames[self.frames_sent % len(self._frames)])
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


@functools.cache
def encoded_pattern(width: int, height: int, kbps: int) -> tuple[bytes, ...]:
    """The pattern's loop as VP8 frames, starting on a key frame, one every second.

    The loop is encoded twice and the second pass kept, so the rate control has settled;
    its length is a whole number of key-frame intervals, so it wraps onto a key frame.
    """
    planes = pattern_planes(width, height, loop_frames=2 * VIDEO_RATE)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = Fraction(1, VIDEO_RATE)
    codec.framerate = Fraction(VIDEO_RATE)
    codec.bit_rate = kbps * 1000
    codec.gop_size = VIDEO_RATE
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    for index in range(2 * len(planes)):
        frame = _frame(width, height, planes[index % len(planes)])
        frame.pts = index
        frames += [bytes(packet) for packet in codec.encode(frame)]
    frames += [bytes(packet) for packet in codec.encode(None)]
    loop = frames[len(planes) :]
    if len(loop) != len(planes) or not _is_key(loop[0]):
        raise RuntimeError("libvpx did not give one frame per picture starting on a key frame")
    return tuple(loop)


def _is_key(vp8: bytes) -> bool:
    return not vp8[0] & 1  # RFC 6386 section 9.1: the frame tag's bit 0 is 0 on a key frame


class ReplayVideoTrack(MediaStreamTrack):
    """The pattern at 30 fps as pre-encoded VP8 packets (see the module's docstring)."""

    kind = "video"

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, kbps: int = REPLAY_KBPS):
        super().__init__()
        self._encoded = encoded_pattern(width, height, kbps)
        self._start: float | None = None
        self.frames_sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            await asyncio.sleep(self._start + self.frames_sent / VIDEO_RATE - time.time())
        packet = av.Packet(self._encoded[self.frames_sent % len(self._encoded)])
        packet.pts = self.frames_sent * (VIDEO_CLOCK // VIDEO_RATE)
        packet.time_base = Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        return packet


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
    video: str,
    width: int = WIDTH,
    height: int = HEIGHT,
    audio: bool = True,
    kbps: int = REPLAY_KBPS,
) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    """(video, audio) tracks: ``video`` is "pattern" (encoded live), "replay" (the pattern
    encoded once, at ``kbps``) or a media file played in a loop; audio is the tone."""
    tone = ToneAudioTrack() if audio else None
    if video == "pattern":
        return PatternVideoTrack(width, height), tone
    if video == "replay":
        return ReplayVideoTrack(width, height, kbps), tone
    from aiortc.contrib.media import MediaPlayer

    player = MediaPlayer(video, loop=True)
    return player.video, player.audio if audio else None
