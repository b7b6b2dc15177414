"""Receive published media without decoding it.

aiortc's receiver reassembles RTP into encoded frames and hands them to a decoder thread
(``aiortc.rtcrtpreceiver.decoder_worker``) that always decodes. This module swaps that
worker for one that, for tracks marked with ``mark_passthrough``, wraps each encoded
frame in an ``EncodedFrame`` and hands it on untouched. Unmarked tracks keep aiortc's
decoder, so the transcoding baseline can share a process with the relay.

aiortc's sender packetizes anything that is not an ``av.Frame`` through ``encoder.pack``,
which needs only ``bytes(frame)``, ``pts`` and ``time_base``: an ``EncodedFrame`` goes
out again without a codec ever touching it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from fractions import Fraction
from typing import Any

from server.media.aiortc_compat import decoder_worker, set_decoder_worker, track_queue

_ORIGINAL_WORKER = decoder_worker()
_PASSTHROUGH_QUEUES: weakref.WeakSet[asyncio.Queue[Any]] = weakref.WeakSet()
_INSTALL_LOCK = threading.Lock()


class EncodedFrame:
    """One encoded audio or video frame as the publisher sent it."""

    __slots__ = ("data", "keyframe", "pts", "time_base")

    def __init__(self, data: bytes, pts: int, time_base: Fraction, keyframe: bool) -> None:
        self.data = data
        self.pts = pts
        self.time_base = time_base
        self.keyframe = keyframe

    def __bytes__(self) -> bytes:
        return self.data

    def with_pts(self, pts: int) -> EncodedFrame:
        return EncodedFrame(self.data, pts, self.time_base, self.keyframe)


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """True when ``data`` starts a decodable picture (always true for audio)."""
    name = codec_name.lower()
    if name == "vp8":
        # RFC 6386 §9.1: bit 0 of the frame tag is 0 for key frames.
        return len(data) > 0 and (data[0] & 0x01) == 0
    if name == "h264":
        # Annex B stream from aiortc's depayloader: look for an IDR slice (type 5).
        index = data.find(b"\x00\x00\x01")
        while index != -1 and index + 3 < len(data):
            if data[index + 3] & 0x1F == 5:
                return True
            index = data.find(b"\x00\x00\x01", index + 3)
        return False
    return True


def _passthrough_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    if output_q not in _PASSTHROUGH_QUEUES:
        _ORIGINAL_WORKER(loop, input_q, output_q, decode_error)
        return
    while True:
        task = input_q.get()
        if task is None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(output_q.put_nowait, None)
            break
        codec, jitter_frame = task
        frame = EncodedFrame(
            data=jitter_frame.data,
            pts=jitter_frame.timestamp,
            time_base=Fraction(1, codec.clockRate),
            keyframe=is_keyframe(codec.name, jitter_frame.data),
        )
        try:
            loop.call_soon_threadsafe(output_q.put_nowait, frame)
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            break


def install() -> None:
    """Route aiortc's receive path through the pass-through worker (idempotent)."""
    with _INSTALL_LOCK:
        set_decoder_worker(_passthrough_worker)


def mark_passthrough(track: Any) -> None:
    """Make the receiver feeding ``track`` forward encoded frames instead of decoding.

    Call from the peer connection's ``track`` event: aiortc fires it before the receiver
    starts its worker thread.
    """
    _PASSTHROUGH_QUEUES.add(track_queue(track))
