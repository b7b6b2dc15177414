"""The scorer: a consumer-group reader that applies stream events to members, and the
sweep that re-decides tiers when time alone may change them.

Several scorers (in one process or many) share the stream through one consumer group.
Each batch goes through ``Ledger.apply`` (exactly once per event id, per member, with a
compare-and-set), then ``Aggregates.write`` (the metrics, safe to repeat), and only then
is it acknowledged. A scorer that dies leaves its entries pending: it reads them again
when it restarts, or another takes them over with ``claim_stale`` (XAUTOCLAIM) once they
have been idle for ``STALE_MS``; redoing them is harmless.

The sweep takes members whose review time has come (``keys.DUE``), leasing them for a
minute so that two scorers rarely review the same member, and re-decides their tiers:
silence is noticed without any event. Every tier change is handed to
``on_tier_change`` (the app pushes it to the host console of the member's room). Every
few hours a task of the scorer refits the predicted purchases (``forecast.refit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from redis.exceptions import RedisError, ResponseError

from server.engagement import keys
from server.engagement.aggregates import Aggregates
from server.engagement.events import (
    STREAM_FIELD,
    STREAM_KEY,
    Event,
    EventDecodeError,
    EventKind,
    decode,
)
from server.engagement.forecast import refit
from server.engagement.ledger import Ledger, Outcome, TierChange
from server.engagement.rules import Rules, load_rules
from server.engagement.scoring import APPLIED_RETENTION_MS, now_ms
from server.engagement.tasks import Backoff, cancel_and_wait, check_cancelled
from server.ids import MemberId
from server.redis_client import RedisClient, decodes_responses
from server.settings import EngagementSettings

logger = logging.getLogger(__name__)

# Milliseconds an entry may sit unacknowledged with another consumer before
# ``claim_stale`` takes it over (that consumer is presumed dead).
STALE_MS: Final = 60_000
BLOCK_MS: Final = 1_000
CLAIM_EVERY: Final = 30.0
# A swept member is leased for this long: another scorer's sweep leaves it alone.
SWEEP_LEASE_MS: Final = 60_000
SWEEP_BATCH: Final = 200
# Sweep batches in a row before events get their turn again (a backlog of reviews, say
# after an import, must not hold up the events).
SWEEP_ROUNDS: Final = 5
# Entries read at once, at most: a backlog is worked through in big batches, so that a
# member with several events costs one read and one write (measured here: 45 µs of
# scorer CPU per event at 10,000, 158 µs at 2,000 with 2,000 members). A live stream
# gives smaller batches anyway: what arrived while the last one was applied.
DEFAULT_BATCH: Final = 10_000
# A read that returned fewer entries than this is a lightly loaded stream: the scorer
# lingers (``engagement.scorer_linger``) before its next read, so that its next round
# carries what arrived meanwhile. A round costs a fixed five round trips and several
# script calls whatever it carries: one event a round (the recorder writes every 5 ms)
# cost the scorer a quarter of a core for 200 events a second.
LINGER_BELOW: Final = 1_000
# Decoded entries between two yields to the loop.
DECODE_SLICE: Final = 2_000
# The predicted purchases: first refit a while after start, then every six hours.
REFIT_FIRST: Final = 120.0
REFIT_EVERY: Final = 6 * 3600.0

# KEYS[1] the review index. ARGV: now, count, lease-until. Members due now, leased.
LEASE_SCRIPT: Final = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids
"""

Entry = tuple[bytes, dict[bytes, bytes]]
TierListener = Callable[[TierChange], None]


class Scorer:
    """One consumer in the scorer group. ``start()``/``stop()`` own its reading task."""

    def __init__(
        self,
        redis: RedisClient,
        settings: EngagementSettings,
        consumer: str,
        stream_key: str = STREAM_KEY,
        rules: Rules | None = None,
        on_tier_change: TierListener | None = None,
        sweep_interval: float = 10.0,
        review_ms: int = 6 * 3600 * 1000,
        clock: Callable[[], int] | None = None,
        batch: int = DEFAULT_BATCH,
        refit_interval: float = REFIT_EVERY,
    ) -> None:
        if decodes_responses(redis):
            raise ValueError("the scorer needs a Redis client with decode_responses=False")
        self._redis = redis
        self._group = settings.scorer_group
        self._consumer = consumer
        self._stream_key = stream_key
        self.rules = rules or load_rules()
        self._clock = clock or now_ms
        self.ledger = Ledger(redis, self.rules, review_ms, self._clock)
        self.aggregates = Aggregates(redis, self.rules)
        self._lease = redis.register_script(LEASE_SCRIPT)
        self._on_tier_change = on_tier_change
        self._sweep_interval = sweep_interval
        self._batch = batch
        self._linger = settings.scorer_linger
        # Entries the last read returned (its batch size, whether applied or not), and
        # the reads that returned any: rounds.
        self.last_read = 0
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None
        # The predicted purchases are refitted this often (0: never), in a task of
        # ours whose fitting runs in a thread.
        self._refit_interval = refit_interval
        self._refit_task: asyncio.Task[None] | None = None
        self._next_refit = time.monotonic() + REFIT_FIRST
        self._group_ready = False
        # Our own unacknowledged entries (from before a crash or an error) come first.
        self._backlog_done = False
        self.applied = 0
        self.duplicates = 0
        self.too_old = 0
        self.malformed = 0
        self.failed = 0
        self.conflicts = 0
        self.tier_changes = 0
        self.reviewed = 0

    @property
    def consumer(self) -> str:
        return self._consumer

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

    async def sweep_once(self, limit: int = SWEEP_BATCH) -> int:
        """Review the members whose time has come; return how many were reviewed."""
        now = self._clock()
        raw = await self._lease(keys=[keys.DUE], args=[now, limit, now + SWEEP_LEASE_MS])
        members = [MemberId(_text(m)) for m in raw]
        if not members:
            return 0
        outcome = await self.ledger.review(members)
        await self.aggregates.write([], outcome.states, now)
        self.reviewed += len(members)
        self._tally(outcome)
        return len(members)

    @contextlib.contextmanager
    def _recovering(self) -> Iterator[None]:
        """After a Redis error, re-check the group (a restarted Redis may have none) and
        re-read our own pending entries first: redoing them is harmless."""
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
        entries = stream_entries(reply)
        self.last_read = len(entries)
        self.rounds += 1 if entries else 0
        return entries

    async def _handle(self, entries: list[Entry]) -> int:
        """Apply every decodable entry, write the aggregates, then ack them all."""
        if not entries:
            return 0
        events: list[Event] = []
        for n, (entry_id, fields) in enumerate(entries, 1):
            if n % DECODE_SLICE == 0:
                await asyncio.sleep(0)  # rooms on this loop keep running
            # An entry deleted from the stream while pending comes back with no fields.
            event = self._decode(entry_id, fields or {})
            if event is not None:
                events.append(event)
        outcome = Outcome()
        if events:
            outcome = await self.ledger.apply(events)
            now = self._clock()
            counted = [
                e
                for e in events
                if e.ts_ms >= now - APPLIED_RETENTION_MS or e.kind is EventKind.PURCHASE
            ]
            await self.aggregates.write(counted, outcome.states, now)
        # Only now, with every event applied (or refused for good), is it safe to ack.
        await self._redis.xack(self._stream_key, self._group, *(e[0] for e in entries))
        self._tally(outcome)
        return len(outcome.applied)

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

    def _tally(self, outcome: Outcome) -> None:
        self.applied += len(outcome.applied)
        self.duplicates += outcome.duplicates
        self.failed += outcome.failed
        self.conflicts += outcome.conflicts
        if outcome.too_old:
            self.too_old += outcome.too_old
            logger.warning(
                "%d events older than the dedup window were not applied", outcome.too_old
            )
        for change in outcome.changes:
            self.tier_changes += 1
            logger.info(
                "member %s: %s -> %s (%s)",
                change.member_id,
                change.old.value if change.old else "-",
                change.new.value,
                change.reason,
            )
            if self._on_tier_change is not None:
                try:
                    self._on_tier_change(change)
                except Exception:
                    logger.exception("tier change listener failed for %s", change.member_id)

    def _maybe_refit(self) -> None:
        if self._refit_interval <= 0 or time.monotonic() < self._next_refit:
            return
        if self._refit_task is not None and not self._refit_task.done():
            return
        self._next_refit = time.monotonic() + self._refit_interval
        self._refit_task = asyncio.create_task(self._refit(), name=f"salon-refit-{self._consumer}")

    async def _refit(self) -> None:
        try:
            await refit(self._redis, self._clock())
        except Exception:
            logger.exception("scorer %s: refitting the predictions failed", self._consumer)

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
            await cancel_and_wait(task)
        refit, self._refit_task = self._refit_task, None
        if refit is not None:
            await cancel_and_wait(refit)

    async def _linger_after(self, read_at: float) -> None:
        """After a read that found a few events, wait until ``scorer_linger`` has passed
        since it began: the next round carries what arrived meanwhile. An event waits at
        most that long more; a read that found nothing (it blocked until its timeout) or
        a full batch (a backlog) is followed by the next read at once."""
        if self._linger <= 0 or not 0 < self.last_read < min(self._batch, LINGER_BELOW):
            return
        left = read_at + self._linger - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)

    async def run(self, block_ms: int = BLOCK_MS) -> None:
        """Process entries (and sweep) until cancelled; Redis errors are logged and retried."""
        backoff = Backoff()
        failing = False
        next_claim = next_sweep = 0.0
        while True:
            check_cancelled()
            self._maybe_refit()
            try:
                if time.monotonic() >= next_claim:
                    await self.claim_stale(count=self._batch)
                    next_claim = time.monotonic() + CLAIM_EVERY
                if time.monotonic() >= next_sweep:
                    rounds = 0
                    while rounds < SWEEP_ROUNDS and await self.sweep_once() == SWEEP_BATCH:
                        rounds += 1
                        check_cancelled()
                    # Unfinished: sweep again right after the next read of events.
                    more = rounds == SWEEP_ROUNDS
                    next_sweep = time.monotonic() + (0 if more else self._sweep_interval)
                wait = min(block_ms, max(1, int((next_sweep - time.monotonic()) * 1000)))
                read_at = time.monotonic()
                await self.process_once(block_ms=wait, count=self._batch)
                await self._linger_after(read_at)
            except Exception as exc:
                # Being stopped: the connection was closed under the read on purpose.
                check_cancelled()
                if not failing:
                    failing = True
                    if isinstance(exc, RedisError):
                        logger.warning("scorer %s: %s; retrying", self._consumer, exc)
                    else:
                        logger.exception("scorer %s: unexpected error; retrying", self._consumer)
                await backoff.sleep()
                continue
            if failing:
                failing = False
                logger.info("scorer %s: reading again", self._consumer)
            backoff.reset()


def stream_entries(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREAD or XREADGROUP reply, in RESP2 or RESP3 shape."""
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
