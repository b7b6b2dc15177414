"""The scorer: a consumer-group reader that turns stream events into member scores.

It owns the point rules (``POINTS`` and ``points``) and the exactly-once application of
an event to one member. The stream is delivered at least once (the recorder may write an
event twice, a crashed consumer's entries are read again), so every application goes
through one Lua script on the member's two keys, which share a hash-tag slot:

- ``ZADD NX`` of the event id into the member's applied set (score = the event's
  ``ts_ms``); only if the id is new does the script ``HINCRBYFLOAT`` the score.
- Ids older than ``APPLIED_RETENTION_MS`` are trimmed from the set, and events that old
  are refused outright, so trimming can never let a replay count twice.

A member with no record still gets a hash holding only ``score``: the tier is the gate's
business and is never written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.engagement.events import (
    STREAM_FIELD,
    STREAM_KEY,
    Event,
    EventDecodeError,
    EventKind,
    decode,
    number,
)
from server.engagement.members import applied_key, member_key
from server.settings import EngagementSettings

logger = logging.getLogger(__name__)

# Points per event, by kind. A leave is worth its watch time instead (see ``points``).
# Kinds at 0 are recorded and deduplicated but do not move the score yet.
POINTS: Final[dict[EventKind, float]] = {
    EventKind.JOIN: 1.0,
    EventKind.LEAVE: 0.0,
    EventKind.CHAT: 0.0,
    EventKind.REACTION: 0.0,
    EventKind.QUESTION: 0.0,
    EventKind.UPVOTE: 0.0,
    EventKind.POLL_VOTE: 0.0,
    EventKind.HAND_RAISE: 0.0,
    EventKind.STAGE_SECONDS: 0.0,
    EventKind.PRODUCT_CLICK: 0.0,
    EventKind.PURCHASE: 0.0,
    EventKind.SHARE: 0.0,
    EventKind.EXTERNAL: 0.0,
}
# leave: 1 point per minute watched (``data["watch_seconds"]``), at most this per event.
POINTS_PER_WATCH_MINUTE: Final = 1.0
MAX_WATCH_POINTS: Final = 120.0

# How long an applied event id is remembered; older events are refused.
APPLIED_RETENTION_MS: Final = 30 * 24 * 3600 * 1000

# Milliseconds an entry may sit unacknowledged with another consumer before
# ``claim_stale`` takes it over (that consumer is presumed dead).
STALE_MS: Final = 60_000
BLOCK_MS: Final = 1_000
BACKOFF_MIN: Final = 0.05
BACKOFF_MAX: Final = 1.0
CLAIM_EVERY: Final = 30.0

# Errors after which the same work should simply be tried again later.
TRANSIENT_ERRORS: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    NoScriptError,
)

# KEYS[1] member hash, KEYS[2] applied set.
# ARGV[1] event id, ARGV[2] event ts_ms, ARGV[3] points, ARGV[4] retention ms.
# Returns 1 if applied now, 0 if already applied, -1 if older than the retention window.
# "Now" is the Redis server's clock: one member's keys live on one server, so the
# refusal and the trimming below always agree, whatever the scorers' clocks say.
# Trimming runs on every new application: each id is removed once, so it costs
# O(log n) amortized; the TTL lets a member who went silent lose the whole set.
APPLY_SCRIPT: Final = """
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
if tonumber(ARGV[2]) < cutoff then
  return -1
end
if redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1]) == 0 then
  return 0
end
if tonumber(ARGV[3]) ~= 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'score', ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

Entry = tuple[bytes, dict[bytes, bytes]]


def points(event: Event) -> float:
    """Points ``event`` is worth to its member (pure; see ``POINTS``)."""
    if event.kind is EventKind.LEAVE:
        seconds = number(event.data, "watch_seconds")
        if seconds is None or seconds <= 0:
            return 0.0
        return min(seconds / 60.0 * POINTS_PER_WATCH_MINUTE, MAX_WATCH_POINTS)
    return POINTS.get(event.kind, 0.0)


class Scorer:
    """One consumer in the scorer group. ``start()``/``stop()`` own its reading task."""

    def __init__(
        self,
        redis: Redis,
        settings: EngagementSettings,
        consumer: str,
        stream_key: str = STREAM_KEY,
    ) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the scorer needs a Redis client with decode_responses=False")
        self._redis = redis
        self._group = settings.scorer_group
        self._consumer = consumer
        self._stream_key = stream_key
        self._apply = redis.register_script(APPLY_SCRIPT)
        self._task: asyncio.Task[None] | None = None
        self._group_ready = False
        # Our own unacknowledged entries (from before a crash or an error) come first.
        self._backlog_done = False
        self.applied = 0
        self.duplicates = 0
        self.too_old = 0
        self.malformed = 0
        self.failed = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; an existing one is kept."""
        try:
            await self._redis.xgroup_create(self._stream_key, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    async def process_once(self, block_ms: int = 0, count: int = 100) -> int:
        """Read up to ``count`` entries, apply and acknowledge them; return how many
        events were newly applied (duplicates, stale and malformed entries are acked but
        not counted). ``block_ms`` <= 0 means do not wait for new entries.

        Redis errors propagate; nothing is acknowledged that was not processed.
        """
        with self._recovering():
            if not self._group_ready:
                await self.ensure_group()
            if not self._backlog_done:
                entries = await self._read("0", count, None)
                if entries:
                    return await self._handle(entries)
                self._backlog_done = True
            entries = await self._read(">", count, block_ms if block_ms > 0 else None)
            return await self._handle(entries)

    async def claim_stale(self, min_idle_ms: int = STALE_MS, count: int = 100) -> int:
        """Take over entries another consumer left unacknowledged for ``min_idle_ms`` and
        apply them; return how many events were newly applied."""
        total = 0
        start = "0-0"
        with self._recovering():
            if not self._group_ready:
                await self.ensure_group()
            while True:
                reply = await self._redis.xautoclaim(
                    self._stream_key,
                    self._group,
                    self._consumer,
                    min_idle_ms,
                    start_id=start,
                    count=count,
                )
                total += await self._handle(list(reply[1]))
                start = _text(reply[0])
                # XAUTOCLAIM answers 0-0 once it has scanned the whole pending list.
                if start == "0-0":
                    return total

    @contextlib.contextmanager
    def _recovering(self) -> Iterator[None]:
        """After a Redis error, re-check the group (a restarted Redis may have none) and
        re-read our own pending entries first: the script makes redoing them harmless."""
        try:
            yield
        except RedisError as exc:
            self._backlog_done = False
            if isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP"):
                self._group_ready = False
            raise

    async def _read(self, from_id: str, count: int, block: int | None) -> list[Entry]:
        reply = await self._redis.xreadgroup(
            self._group, self._consumer, {self._stream_key: from_id}, count=count, block=block
        )
        return _entries(reply)

    async def _handle(self, entries: list[Entry]) -> int:
        """Apply every decodable entry in one pipeline, then ack them all."""
        if not entries:
            return 0
        events: list[Event] = []
        for entry_id, fields in entries:
            # An entry deleted from the stream while pending comes back with no fields.
            event = self._decode(entry_id, fields or {})
            if event is not None:
                events.append(event)
        newly = 0
        if events:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    await self._apply(
                        keys=[member_key(event.member_id), applied_key(event.member_id)],
                        args=[event.id, event.ts_ms, repr(points(event)), APPLIED_RETENTION_MS],
                        client=pipe,
                    )
                results = await pipe.execute(raise_on_error=False)
            newly = self._tally(events, results)
        # Only now, with every event applied (or refused for good), is it safe to ack.
        await self._redis.xack(self._stream_key, self._group, *(e[0] for e in entries))
        return newly

    def _decode(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Event | None:
        raw = fields.get(STREAM_FIELD)
        try:
            if raw is None:
                raise EventDecodeError(f"entry has no {STREAM_FIELD!r} field")
            return decode(raw)
        except EventDecodeError as exc:
            self.malformed += 1
            logger.warning("skipping malformed event entry %s: %s", _text(entry_id), exc)
            return None

    def _tally(self, events: list[Event], results: list[Any]) -> int:
        """Count script results. A transient error fails the whole batch, unacked, to
        be redone; any other per-event error (say a member key of the wrong type) is
        logged and the entry acked anyway, so one broken key cannot wedge the group."""
        for result in results:
            if isinstance(result, TRANSIENT_ERRORS):
                raise result
        newly = 0
        for event, result in zip(events, results, strict=True):
            if isinstance(result, Exception):
                self.failed += 1
                logger.error(
                    "cannot apply event %s to member %s: %s", event.id, event.member_id, result
                )
            elif result == 1:
                newly += 1
            elif result == 0:
                self.duplicates += 1
            else:
                self.too_old += 1
                logger.warning(
                    "event %s for member %s is older than the dedup window: not applied",
                    event.id,
                    event.member_id,
                )
        self.applied += newly
        return newly

    async def start(self) -> None:
        """Start the reading task (idempotent)."""
        if self.running:
            return
        self._task = asyncio.create_task(self.run(), name=f"salon-scorer-{self._consumer}")

    async def stop(self) -> None:
        """Stop the reading task. Entries it had read but not acked are read again later
        (by this consumer on restart, or by another through ``claim_stale``)."""
        task, self._task = self._task, None
        if task is not None:
            await _cancel_and_wait(task)

    async def run(self, block_ms: int = BLOCK_MS) -> None:
        """Process entries until cancelled; Redis errors are logged and retried."""
        backoff = BACKOFF_MIN
        failing = False
        next_claim = 0.0
        while True:
            _check_cancelled()
            try:
                if time.monotonic() >= next_claim:
                    await self.claim_stale()
                    next_claim = time.monotonic() + CLAIM_EVERY
                await self.process_once(block_ms=block_ms)
            except Exception as exc:
                if not failing:
                    failing = True
                    if isinstance(exc, RedisError):
                        logger.warning("scorer %s: %s; retrying", self._consumer, exc)
                    else:
                        logger.exception("scorer %s: unexpected error; retrying", self._consumer)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if failing:
                failing = False
                logger.info("scorer %s: reading again", self._consumer)
            backoff = BACKOFF_MIN


def _entries(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREADGROUP reply, in RESP2 or RESP3 shape."""
    if not reply:
        return []
    # RESP2: [[stream, [entry, ...]]]; RESP3 (redis-py 8): {stream: [[entry, ...]]}.
    chunks = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    entries: list[Entry] = []
    for chunk in chunks:
        if chunk and isinstance(chunk[0], list):
            for inner in chunk:
                entries.extend(inner)
        else:
            entries.extend(chunk)
    return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _check_cancelled() -> None:
    """Raise ``CancelledError`` if someone asked to cancel this task.

    On Python 3.11, ``asyncio.wait_for`` (which redis-py uses to send every command when
    ``socket_timeout`` is set) swallows a cancellation that lands in the same loop turn
    as its inner future finishing (python/cpython#86296, fixed in 3.12). The command
    then returns normally and the loop would run on; the request count still shows it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _cancel_and_wait(task: asyncio.Task[None], limit: float = 5.0) -> None:
    """Cancel ``task`` until it ends (see ``_check_cancelled``), for at most ``limit`` s.

    ``asyncio.wait`` is used rather than awaiting the task, so that the caller's own
    cancellation is never mistaken for the task's, nor absorbed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.done():
        logger.error("task %s did not stop within %.1f s", task.get_name(), limit)
    elif not task.cancelled() and task.exception() is not None:
        logger.error("task %s had failed", task.get_name(), exc_info=task.exception())
