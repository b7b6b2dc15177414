"""What the server itself recorded for a run's room, read back from its event stream.

With access to the server's Redis (``--redis-url``, or a ``--spawn-server`` run), the
report sets the bots' counts beside the server's: join events (members and host), chat
lines, questions, upvotes, raised hands and stage invitations recorded in
``salon:{events}:stream`` for the run's room. The stream is read in bounded pages. Each
entry's ``e`` field is one event as msgpack (schema version 1: ``kind``, ``room_id``,
``data`` among others), the format every consumer of the stream reads; this module reads
only the fields it counts, and a contract test decodes events the server encoded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import msgpack
from redis.asyncio import Redis

STREAM_KEY = "salon:{events}:stream"
STREAM_FIELD = b"e"
SCHEMA_VERSION = 1

PAGE = 5000
MAX_PAGES = 400  # the stream is capped (engagement.stream_maxlen, 1M by default)
SETTLE_TIMEOUT = 5.0


def _name(kind: str, data: dict[str, Any]) -> str | None:
    action = data.get("action")
    if kind == "join":
        return f"join:{data.get('role', 'member')}"
    if kind == "chat" and action in (None, "send"):
        return "chat"
    if kind == "question" and action in (None, "ask"):
        return "question"
    if kind == "question" and action == "answer":
        return "answer"
    if kind == "upvote" and action in (None, "add"):
        return "upvote"
    if kind == "reaction":
        return "reaction"
    if kind in ("hand_raise", "stage_invite", "stage_accept", "leave"):
        return kind
    return None


def room_event(raw: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """``(room_id, kind, data)`` of one stream entry; None when it is not a v1 event."""
    try:
        event = msgpack.unpackb(raw, raw=False)
    except Exception:  # msgpack raises several unrelated types for bad input
        return None
    if not isinstance(event, dict) or event.get("v") != SCHEMA_VERSION:
        return None
    room, kind, data = event.get("room_id"), event.get("kind"), event.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        return None
    return (room if isinstance(room, str) else "", kind, data)


async def recorded(redis_url: str, room: str) -> dict[str, int]:
    """Counts by kind of the events recorded for ``room`` (whole stream, paged)."""
    redis = Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
    counts: Counter[str] = Counter()
    try:
        start = "-"
        for _ in range(MAX_PAGES):
            page: list[Any] = list(
                await redis.xrange(STREAM_KEY, min=start, max="+", count=PAGE) or []
            )
            for _, fields in page:
                event = room_event(fields.get(STREAM_FIELD, b""))
                if event is None:
                    counts["undecodable"] += 1
                    continue
                if event[0] != room:
                    continue
                name = _name(event[1], event[2])
                if name is not None:
                    counts[name] += 1
            if len(page) < PAGE:
                break
            start = "(" + page[-1][0].decode()
    finally:
        await redis.aclose()
    return dict(counts)


async def recorded_when_settled(redis_url: str, room: str, depth: Any) -> dict[str, int]:
    """``recorded`` once the server's event buffer has drained (``depth()`` → 0), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT
    while loop.time() < deadline and (await depth()) > 0:  # noqa: ASYNC110 - polls the server
        await asyncio.sleep(0.2)
    return await recorded(redis_url, room)
