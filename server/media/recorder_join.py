"""One session's recorded parts joined into one WebM file, remuxed, never decoded.

A session handed over between nodes (drain, orderly stop, kill -9 take-over) is recorded
in parts, one per owner (``server/rooms/replay.py``). ``join_webm`` copies each part's
VP8 and Opus packets, in order, into one file: the bytes the publisher sent, with times
shifted so that each part starts where the one before ended (the seconds of the
hand-over are left out, as a cut). A part cut short (its node was killed mid-write) is
read as far as it goes. Blocking file work: the caller runs it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from server.media.recorder import open_webm

logger = logging.getLogger(__name__)

# Milliseconds between the end of one part and the start of the next in the joined file
# (about a video frame: the first frame of a part never lands on the last of the one before).
PART_GAP_MS = 40


@dataclass(frozen=True)
class Span:
    """Where a part went in the joined file: its start there (``offset_ms``), its own
    time of that start (``first_ms``, from the start of its recording), and its length."""

    offset_ms: int
    first_ms: int
    duration_ms: int
    packets: int

    def joined_s(self, t: float) -> float:
        """A time ``t`` (seconds from the start of the part's recording) in the joined file."""
        return round(max(self.offset_ms, self.offset_ms + t * 1000 - self.first_ms) / 1000, 2)


def _video_size(parts: Sequence[Path]) -> tuple[int, int] | None:
    """The first part's VP8 width and height (from the file's header; nothing decoded)."""
    for path in parts:
        try:
            with av.open(str(path)) as source:
                for stream in source.streams.video:
                    return (stream.codec_context.width, stream.codec_context.height)
        except (av.FFmpegError, OSError) as exc:
            logger.warning("replay: part %s unreadable (%r)", path, exc)
    return None


def join_webm(parts: Sequence[Path], out: Path) -> list[Span | None]:
    """Write ``parts`` (in order) into ``out``; a ``Span`` per part, None for a part that
    could not be read at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    container, streams = open_webm(out, _video_size(parts))
    spans: list[Span | None] = []
    last: dict[str, int] = {}
    offset = 0
    try:
        for path in parts:
            span = _copy(path, container, streams, last, offset)
            spans.append(span)
            if span is not None:
                offset = span.offset_ms + span.duration_ms + PART_GAP_MS
    finally:
        container.close()
    return spans


def _copy(
    path: Path, container: Any, streams: dict[str, Any], last: dict[str, int], offset: int
) -> Span | None:
    first: int | None = None
    end = offset
    count = 0
    try:
        with av.open(str(path)) as source:
            try:
                for packet in source.demux():
                    kind = packet.stream.type
                    if packet.pts is None or packet.size == 0 or kind not in streams:
                        continue  # the demuxer's flush packets; a stream the file has not
                    ms = int(packet.pts * packet.time_base * 1000)
                    if first is None:
                        first = ms
                    pts = max(offset + ms - first, last.get(kind, -1) + 1)
                    last[kind] = pts
                    copy = av.Packet(bytes(packet))
                    copy.stream = streams[kind]
                    copy.pts = copy.dts = pts
                    copy.time_base = streams[kind].time_base
                    copy.is_keyframe = packet.is_keyframe
                    container.mux(copy)
                    count += 1
                    duration = packet.duration or 0
                    end = max(end, pts + int(duration * packet.time_base * 1000))
            except av.FFmpegError as exc:
                # A part whose node died mid-write ends in a torn cluster: keep what came before.
                logger.warning("replay: part %s cut short after %d packets (%r)", path, count, exc)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("replay: part %s left out (%r)", path, exc)
        return None
    if first is None:
        return None
    return Span(offset, first, end - offset, count)
