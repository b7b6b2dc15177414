"""The hook-link funnel: link visits -> registrations -> RSVPs -> joined -> bought, per
link and per channel, kept from the event stream.

``HookFunnelFeed`` reads the stream with a cursor of its own (``XREAD`` after the last
entry it finished; no consumer group, so the scorer's group stays the only one that
tools and tests must drain) and keeps, under the ``{funnel}`` hash tag: which channel
each link belongs to, a set per link and step (visit event ids; member ids for the other
steps) and, per room, which link first brought each member (first touch). A ``join`` or
``purchase`` in that room by such a member counts for the link. Sets make replays
harmless: the stream is at-least-once, and every node may read the same entries.
Purchases attributed to a room are handed to ``on_purchase`` (the app turns them into
``purchase.attributed`` webhooks) once per event id across nodes and replays (a ``SET
NX`` claim kept a day).

The read blocks (``BLOCK``, on a client of its own whose reads may wait) until an entry
comes, so an idle node does not ask Redis five times a second; after a batch it waits
``POLL`` before the next read, so that a busy stream is read in batches, not an entry
at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from redis.exceptions import RedisError

from server.engagement.events import STREAM_FIELD, STREAM_KEY, Event, EventDecodeError, decode
from server.engagement.events import EventKind as K
from server.engagement.scorer import stream_entries
from server.engagement.tasks import Backoff, cancel_and_wait, check_cancelled
from server.redis_client import Atomic, RedisClient, disconnect

logger = logging.getLogger(__name__)

STEPS: Final = ("visits", "registrations", "rsvps", "joined", "bought")
_P: Final = "salon:{funnel}:hooks:"
CHANNELS: Final = _P + "channel"
CURSOR: Final = _P + "cursor"
CLAIM_TTL: Final = 24 * 3600
# Seconds between two reads while entries come (a batch per read under load).
POLL: Final = 0.2
# Milliseconds a read waits for the first entry; then the shared cursor is read again.
BLOCK_MS: Final = 5_000
BATCH: Final = 500
_STEP_OF: Final = {K.HOOK_VISIT: "visits", K.REGISTRATION: "registrations", K.RSVP: "rsvps"}


def step_key(code: str, step: str) -> str:
    return f"{_P}{code}:{step}"


def attribution_key(room_id: str) -> str:
    return f"{_P}attr:{room_id}"


class HookFunnelFeed:
    """Keeps the funnel sets from the event stream; a task started and stopped by the app."""

    def __init__(
        self,
        redis: RedisClient,
        reader: RedisClient,
        on_purchase: Callable[[Event, str | None], None] | None = None,
    ) -> None:
        """``reader`` blocks on the stream: its reads must have no timeout (``connect``'s
        ``read_timeout=0``), and it is disconnected to end a read when the feed stops."""
        self._redis = redis
        self._reader = reader
        self._on_purchase = on_purchase
        self._task: asyncio.Task[None] | None = None
        self._placed = False

    async def start(self) -> None:
        # Placed here when Redis answers, so that events recorded right after start-up
        # are counted; else the task places it (a Redis down must not stop the server).
        try:
            await self._place_cursor()
            self._placed = True
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("hook funnel: Redis unavailable at start: %s", exc)
        self._task = asyncio.create_task(self._run(), name="hook-funnel")

    async def _place_cursor(self) -> None:
        """The first run counts from the stream's end: history before the feature is
        neither counted nor sent as webhooks."""
        last: Any = await self._redis.xrevrange(STREAM_KEY, count=1)
        await self._redis.set(CURSOR, last[0][0] if last else "0-0", nx=True)

    async def stop(self) -> None:
        if self._task is not None:
            # A blocked XREAD can outlive its cancellation inside redis-py: dropping the
            # reader's connections ends it (as the scorer's stop does).
            stopping = asyncio.ensure_future(cancel_and_wait(self._task))
            await asyncio.sleep(0)
            await disconnect(self._reader)
            await stopping
            self._task = None

    async def _run(self) -> None:
        backoff = Backoff(0.05, 2.0)
        while True:
            check_cancelled()
            try:
                if not self._placed:
                    await self._place_cursor()
                    self._placed = True
                cursor: Any = await self._redis.get(CURSOR)
                low = cursor.decode() if cursor else "0-0"
                reply = await self._reader.xread({STREAM_KEY: low}, count=BATCH, block=BLOCK_MS)
                entries = stream_entries(reply)
                for _entry, fields in entries:
                    await self._apply(fields.get(STREAM_FIELD))
                if entries:
                    await self._redis.set(CURSOR, entries[-1][0])
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("hook funnel: Redis unavailable: %s", exc)
                await backoff.sleep()
                continue
            backoff.reset()
            if entries:
                await asyncio.sleep(POLL)

    async def _apply(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            event = decode(raw)
        except EventDecodeError:
            return  # the scorer logs undecodable events
        step = _STEP_OF.get(event.kind)
        if step is not None:
            code, channel = event.data.get("link"), event.data.get("channel")
            if not isinstance(code, str) or not isinstance(channel, str):
                return
            tx = Atomic(self._redis, CHANNELS)
            tx.hset(CHANNELS, code, channel)
            tx.sadd(step_key(code, step), event.id if step == "visits" else event.member_id)
            if step != "visits" and event.room_id:
                tx.hsetnx(attribution_key(event.room_id), event.member_id, code)
            await tx.execute()
            return
        if event.kind not in (K.JOIN, K.PURCHASE) or not event.room_id:
            return
        found = await self._redis.hget(attribution_key(event.room_id), event.member_id)
        code = found.decode() if isinstance(found, bytes) else found
        if code is not None:
            step = "joined" if event.kind is K.JOIN else "bought"
            await self._redis.sadd(step_key(code, step), event.member_id)
        if event.kind is K.PURCHASE and self._on_purchase is not None:
            claim = f"{_P}announced:{event.id}"
            if await self._redis.set(claim, 1, nx=True, ex=CLAIM_TTL):
                self._on_purchase(event, code)


async def hook_funnel(redis: RedisClient, known: dict[str, str] | None = None) -> dict[str, Any]:
    """Per link and per channel, each step's count. ``known`` (code -> channel) adds the
    links nobody has visited yet."""
    channels = dict(known or {})
    for k, v in (await redis.hgetall(CHANNELS)).items():
        channels[k.decode() if isinstance(k, bytes) else k] = (
            v.decode() if isinstance(v, bytes) else v
        )
    all_codes = sorted(channels)
    async with redis.pipeline(transaction=False) as pipe:
        for code in all_codes:
            for step in STEPS:
                pipe.scard(step_key(code, step))
        counts = await pipe.execute()
    links: list[dict[str, Any]] = []
    by_channel: dict[str, dict[str, int]] = {}
    for i, code in enumerate(all_codes):
        figures = dict(zip(STEPS, counts[i * len(STEPS) : (i + 1) * len(STEPS)], strict=True))
        channel = channels.get(code, "")
        links.append({"code": code, "channel": channel, **figures})
        total = by_channel.setdefault(channel, dict.fromkeys(STEPS, 0))
        for step in STEPS:
            total[step] += figures[step]
    return {
        "links": links,
        "channels": [{"channel": c, **f} for c, f in sorted(by_channel.items())],
    }
