"""Reading the engagement stream in tests: the ids of every event in it, and a scorer run
until its consumer group has nothing pending or unread."""

from __future__ import annotations

from collections import Counter

from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from server.engagement.scorer import Scorer


async def stream_ids(client: Redis) -> Counter[str]:
    ids: Counter[str] = Counter()
    last = "-"
    while True:
        entries = await client.xrange(STREAM_KEY, min=last, count=5000)
        if last != "-":
            entries = entries[1:]
        if not entries:
            return ids
        for _entry_id, fields in entries:
            ids[decode(fields[STREAM_FIELD]).id] += 1
        last = entries[-1][0].decode()


async def drain(redis: Redis, scorer: Scorer) -> None:
    """Take over whatever is pending, then read until the group has nothing left."""
    await scorer.claim_stale(min_idle_ms=0, count=500)
    while True:
        await scorer.process_once(count=500)
        groups = await redis.xinfo_groups(STREAM_KEY)
        if all(g["pending"] == 0 and g["lag"] == 0 for g in groups):
            return
