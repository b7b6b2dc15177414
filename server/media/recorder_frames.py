"""From a feed's RTP packets to encoded frames with times: the recorder's pure part.

``Vp8Frames`` reassembles VP8 frames from RTP payloads (aiortc's own depacketizer strips
the payload descriptor, RFC 7741), starting at a key frame and dropping every frame until
the next key frame after a lost packet (a frame with a hole would corrupt the picture
until then). Opus needs none: one RTP payload is one Opus packet.

``MediaClock`` turns RTP timestamps into milliseconds since the recording started: the
timestamp is unwrapped and anchored to the arrival time of the first packet; a jump that
disagrees with the wall clock by more than ``RESYNC_S`` (another publisher took the feed,
or the publisher restarted its stream) re-anchors on the arrival time.

Pure and synchronous: the recorder runs it in its worker thread, never on the event loop.
"""

from __future__ import annotations

from typing import NamedTuple

from aiortc.codecs.vpx import vp8_depayload

VIDEO_RATE = 90_000
AUDIO_RATE = 48_000
# A timestamp jump this far (in seconds) from the wall clock re-anchors the clock.
RESYNC_S = 1.0
# A packet this many sequence numbers behind is late; further behind, a new stream.
LATE_PACKETS = 1000
# Bytes a VP8 frame may grow to before it is thrown away (a stream gone wrong).
MAX_FRAME_BYTES = 4 * 1024 * 1024


class Frame(NamedTuple):
    """One encoded frame: its bytes, RTP timestamp, arrival time and whether it is a key."""

    data: bytes
    ts: int
    arrival: float
    keyframe: bool


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 key frame's header (RFC 6386 §9.1), else None."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class Vp8Frames:
    """Whole VP8 frames out of RTP packets given in arrival order."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._ts: int | None = None
        self._arrival = 0.0
        self._next_seq: int | None = None
        self._broken = False
        self._have_key = False
        self.frames_dropped = 0

    def push(self, seq: int, ts: int, marker: bool, payload: bytes, arrival: float) -> Frame | None:
        """Add a packet; the frame it completes, if any."""
        if self._next_seq is not None and seq != self._next_seq:
            behind = (self._next_seq - seq) & 0xFFFF
            if 0 < behind <= LATE_PACKETS:
                return None  # a late or repeated packet: its frame is gone already
            # A hole, or another stream (a new publisher): this frame and what follows
            # up to a key frame are dropped.
            self._broken = True
            self._have_key = False
        self._next_seq = (seq + 1) & 0xFFFF
        if ts != self._ts:
            if self._parts:
                self.frames_dropped += 1  # the previous frame never got its marker
            self._parts = []
            self._size = 0
            self._ts = ts
            self._arrival = arrival
            self._broken = not (payload and payload[0] & 0x10)  # S: the frame's first packet
        if self._broken:
            if marker:
                self.frames_dropped += 1
                self._ts = None
            return None
        data = vp8_depayload(payload)
        self._parts.append(data)
        self._size += len(data)
        if self._size > MAX_FRAME_BYTES:
            self._broken = True
            return None
        if not marker:
            return None
        frame = b"".join(self._parts)
        self._parts = []
        self._size = 0
        self._ts = None
        keyframe = bool(frame) and not frame[0] & 0x01
        if keyframe:
            self._have_key = True
        if not self._have_key:
            self.frames_dropped += 1
            return None
        return Frame(frame, ts, self._arrival, keyframe)


class MediaClock:
    """Milliseconds since ``start`` (a ``time.monotonic`` value) for RTP timestamps."""

    def __init__(self, rate: int, start: float) -> None:
        self._rate = rate
        self._start = start
        self._anchor: tuple[float, int] | None = None  # (arrival, unwrapped timestamp)
        self._last_raw = 0
        self._unwrapped = 0
        self.resyncs = 0

    def ms(self, ts: int, arrival: float) -> int:
        if self._anchor is None:
            self._last_raw = ts
            self._unwrapped = ts
            self._anchor = (arrival, ts)
        else:
            delta = (ts - self._last_raw) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            self._last_raw = ts
            self._unwrapped += delta
            at, base = self._anchor
            media_s = (self._unwrapped - base) / self._rate
            if abs(media_s - (arrival - at)) > RESYNC_S:
                self.resyncs += 1
                self._anchor = (arrival, self._unwrapped)
        at, base = self._anchor
        return round(((at - self._start) + (self._unwrapped - base) / self._rate) * 1000)
