"""The description of a replay recorded in parts: one per node that owned the session.

Pure: given what each part's owner wrote of it (times, timeline, what was recorded; None
for an owner killed before writing) and where each part went in the joined file
(``Span``), the one description the replay page reads. Timeline offsets move with their
part; the counts of what was recorded add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.rooms.media import Span

# Lines kept per session (a long, busy session keeps its first ones).
TIMELINE_MAX = 20_000
# What a part's ``recorded`` figures add up to over the parts.
SUMMED = ("video_frames", "audio_frames", "bytes", "queue_dropped", "frames_dropped")


def joined_meta(
    about: dict[str, Any],
    metas: Sequence[dict[str, Any] | None],
    spans: Sequence[Span | None],
    ended_ms: int,
) -> dict[str, Any]:
    """The replay of parts ``metas`` joined as ``spans`` say; ``about``: the session,
    room id, title and host as the node that ends the session knows them."""
    known = [meta for meta in metas if meta is not None]
    timeline: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    duration = 0
    for number, (meta, span) in enumerate(zip(metas, spans, strict=True), start=1):
        if span is None:
            parts.append({"part": number, "offset_ms": None, "duration_ms": 0})
            continue
        for entry in (meta or {}).get("timeline") or []:
            timeline.append({**entry, "t": span.joined_s(float(entry.get("t") or 0))})
        parts.append(
            {
                "part": number,
                "offset_ms": span.offset_ms,
                "duration_ms": span.duration_ms,
                "started_ms": (meta or {}).get("started_ms"),
            }
        )
        duration = span.offset_ms + span.duration_ms
    starts = [int(meta["started_ms"]) for meta in known if meta.get("started_ms")]
    hosts = [meta["host"] for meta in known if meta.get("host")]
    recorded = {
        key: sum(int((meta.get("recorded") or {}).get(key) or 0) for meta in known)
        for key in SUMMED
    }
    return {
        **about,
        "host": hosts[0] if hosts else about.get("host"),
        "started_ms": min(starts) if starts else ended_ms - duration,
        "ended_ms": ended_ms,
        "duration_ms": duration,
        "recorded": recorded,
        "timeline": timeline[:TIMELINE_MAX],
        "parts": parts,
    }
