"""What the server itself recorded for a run's room, read back from its event stream.

With access to the server's Redis (``--redis-url``, or a ``--spawn-server`` run), the
report sets the bots' counts beside the server's: join events (members and host), chat
lines, questions, upvotes, raised hands and stage invitations recorded in
``salon:{events}:stream`` for the run's room, decoded with the server's own
``server.engagement.events.decode``. The stream is read in bounded pages.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, EventDecodeError, decode

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
                try:
                    event = decode(fields[STREAM_FIELD])
                except (EventDecodeError, KeyError):
                    counts["undecodable"] += 1
                    continue
                if event.room_id != room:
                    continue
                name = _name(event.kind.value, event.data)
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
