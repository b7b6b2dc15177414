"""A session's recording: the host's encoded VP8 and Opus remuxed into one WebM file.

``WebmRecorder`` is the feeds' recording tap (``PacketFeed.on_packet``). On the event
loop it only puts the packet's fields on a bounded queue (full: the packet is dropped and
counted, the room never waits); a worker thread of its own reassembles frames
(``recorder_frames``) and muxes them with PyAV into ``path``, never decoding or encoding
a frame: the file holds the bytes the publisher sent. Times come from the RTP timestamps
(``MediaClock``), in milliseconds from ``start``. The file begins at the first video key
frame (the caller asks the publisher for one when recording starts); audio before it is
dropped. Without a video feed the file is audio only.

The worker owns the container: it is opened at the first key frame (its size is read
from the frame) and closed by ``stop``, which waits for the thread in an executor.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from server.media.recorder_frames import AUDIO_RATE, VIDEO_RATE, MediaClock, Vp8Frames, vp8_size
from server.media.rtp_rewrite import InPacket

logger = logging.getLogger(__name__)

# Packets the queue holds before the tap drops them (about 10 s of a 2.5 Mbit/s room).
QUEUE_PACKETS = 4096
_MS = fractions.Fraction(1, 1000)
# What the Matroska muxer needs of an Opus stream (RFC 7845 §5.1): stereo, 48 kHz, the
# 312-sample pre-skip that browsers' encoders use.
_OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, AUDIO_RATE, 0, 0)
_STOP = None
# Seconds the worker sleeps when the queue is empty (it then takes all that came).
BATCH_S = 0.05

Item = tuple[str, float, int, int, bool, bytes]


@dataclass
class RecordingStats:
    """What a recording wrote and lost."""

    video_frames: int = 0
    audio_frames: int = 0
    bytes: int = 0
    duration_ms: int = 0
    queue_dropped: int = 0  # packets the full queue turned away
    frames_dropped: int = 0  # video frames with a hole, or before the first key frame
    width: int = 0
    height: int = 0
    failed: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return dict(vars(self))


class WebmRecorder:
    """One recording, fed by the main feeds' taps; ``stop`` closes the file."""

    def __init__(self, path: Path, video: bool, queue_packets: int = QUEUE_PACKETS) -> None:
        self.path = path
        self.stats = RecordingStats()
        self.started = time.monotonic()
        self._video = video
        self._packets: queue.Queue[Item | None] = queue.Queue(queue_packets)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{path.name}")
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the worker thread is still writing."""
        return self._thread.is_alive()

    # --- on the event loop: queue and nothing else ----------------------------------------

    def tap(self, kind: str) -> Any:
        """The ``on_packet`` callback for the feed of ``kind``."""
        put = self._packets.put_nowait
        stats = self.stats
        monotonic = time.monotonic

        def on_packet(packet: InPacket) -> None:
            try:
                put((kind, monotonic(), packet.seq, packet.ts, bool(packet.marker), packet.payload))
            except queue.Full:
                stats.queue_dropped += 1

        return on_packet

    async def stop(self) -> RecordingStats:
        """Close the file once the queue is written; returns what was recorded."""
        if not self._stopped:
            self._stopped = True
            while True:
                try:
                    self._packets.put_nowait(_STOP)
                    break
                except queue.Full:
                    await asyncio.sleep(0.05)
        if self._thread.is_alive():
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        return self.stats

    # --- the worker thread ------------------------------------------------------------------

    def _run(self) -> None:
        muxer = _Muxer(self.path, self._video, self.started, self.stats)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            muxer.run(self._packets)
        except Exception:
            self.stats.failed = True
            logger.exception("recorder: writing %s failed", self.path)
            while not muxer.done and _STOP not in _drain(self._packets):  # keep the queue moving
                time.sleep(BATCH_S)


def open_webm(path: Path, size: tuple[int, int] | None) -> tuple[Any, dict[str, Any]]:
    """A WebM container to mux into, with an Opus stream and (``size``: its width and
    height) a VP8 stream, both timed in milliseconds: ``(container, {kind: stream})``."""
    container = av.open(str(path), "w", format="webm")
    streams: dict[str, Any] = {}
    if size is not None:
        # Muxed only: PyAV writes the stream's parameters, no frame is ever encoded.
        video = container.add_stream("libvpx", rate=30)
        video.width, video.height = size
        video.time_base = _MS
        streams["video"] = video
    audio = container.add_stream("libopus", rate=AUDIO_RATE)
    audio.time_base = _MS
    audio.codec_context.extradata = _OPUS_HEAD
    streams["audio"] = audio
    return container, streams


def _drain(items: queue.Queue[Item | None]) -> list[Item | None]:
    batch: list[Item | None] = []
    try:
        while True:
            batch.append(items.get_nowait())
    except queue.Empty:
        return batch


class _Muxer:
    """The worker's state: frame assembly, clocks and the container."""

    def __init__(self, path: Path, video: bool, started: float, stats: RecordingStats) -> None:
        self._path = path
        self._want_video = video
        self._stats = stats
        self._vp8 = Vp8Frames()
        self._video_clock = MediaClock(VIDEO_RATE, started)
        self._audio_clock = MediaClock(AUDIO_RATE, started)
        self._container: Any = None
        self._streams: dict[str, Any] = {}
        self._last_pts: dict[str, int] = {}
        self.done = False  # the stop marker was taken off the queue

    def run(self, items: queue.Queue[Item | None]) -> None:
        try:
            while not self.done:
                batch = _drain(items)
                if not batch:
                    # Woken per batch, not per packet: no GIL hand-over for every packet.
                    time.sleep(BATCH_S)
                    continue
                for item in batch:
                    if item is _STOP:
                        self.done = True
                        break
                    self._take(item)
        finally:
            if self._container is not None:
                self._container.close()

    def _take(self, item: Item) -> None:
        kind, arrival, seq, ts, marker, payload = item
        if kind == "video":
            frame = self._vp8.push(seq, ts, marker, payload, arrival)
            self._stats.frames_dropped = self._vp8.frames_dropped
            if frame is None:
                return
            if self._container is None:
                size = vp8_size(frame.data)
                if size is None:
                    return
                self._open(size)
            self._write("video", frame.data, self._video_clock.ms(frame.ts, frame.arrival))
        elif self._container is not None or not self._want_video:
            if self._container is None:
                self._open(None)
            self._write("audio", payload, self._audio_clock.ms(ts, arrival))

    def _open(self, size: tuple[int, int] | None) -> None:
        self._container, self._streams = open_webm(self._path, size)
        if size is not None:
            self._stats.width, self._stats.height = size

    def _write(self, kind: str, data: bytes, pts: int) -> None:
        last = self._last_pts.get(kind)
        if last is not None and pts <= last:
            pts = last + 1  # clocks re-anchored or jittered: keep each stream increasing
        if pts < 0:
            return
        self._last_pts[kind] = pts
        packet = av.Packet(data)
        packet.stream = self._streams[kind]
        packet.pts = packet.dts = pts
        packet.time_base = _MS
        if kind == "video" and data and not data[0] & 0x01:
            packet.is_keyframe = True
        self._container.mux(packet)
        stats = self._stats
        stats.bytes += len(data)
        stats.duration_ms = max(stats.duration_ms, pts)
        if kind == "video":
            stats.video_frames += 1
        else:
            stats.audio_frames += 1
