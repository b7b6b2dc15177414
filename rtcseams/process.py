"""Process-wide knobs on aiortc and aioice module state: which decoder worker receivers
start, the VP8 encoder's bitrate bounds, and how patient aioice's consent checks are.

Each changes the whole process: the server's frame path installs its worker once; bot
processes only receive to count and only their publisher sends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import aiortc.rtcrtpreceiver as _receiver_module

from rtcseams.receiver import UndecodedFrame

_lock = threading.Lock()


def set_decoder_worker(worker: Callable[..., None]) -> None:
    """Make receivers started from now on run ``worker`` as their decoder thread."""
    cast(Any, _receiver_module).decoder_worker = worker


def _counting_worker(loop: Any, input_q: Any, output_q: Any, *_rest: Any) -> None:
    """In the receiver's thread: each reassembled frame becomes an ``UndecodedFrame``."""
    while True:
        task = input_q.get()
        frame = None if task is None else UndecodedFrame(len(task[1].data))
        try:
            loop.call_soon_threadsafe(output_q.put_nowait, frame)
        except RuntimeError:  # the loop has closed: nobody reads the track any more
            return
        if frame is None:
            return


def count_without_decoding() -> None:
    """Receivers started from now on in this process hand out frames undecoded."""
    with _lock:
        cast(Any, _receiver_module).decoder_worker = _counting_worker


def cap_video_bitrate(kbps: int) -> None:
    """Cap aiortc's VP8 encoder in this process at ``kbps``."""
    from aiortc.codecs import vpx

    top = kbps * 1000
    vpx.MAX_BITRATE = top
    vpx.DEFAULT_BITRATE = min(vpx.DEFAULT_BITRATE, top)
    vpx.MIN_BITRATE = min(vpx.MIN_BITRATE, top)


def patient_consent(failures: int) -> None:
    """Let this process's aioice connections miss ``failures`` consent checks in a row
    (each ~5 s apart) before closing."""
    import aioice.ice

    with _lock:
        aioice.ice.CONSENT_FAILURES = failures
