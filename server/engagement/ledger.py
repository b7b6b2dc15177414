"""Member state in Redis: read it, fold events in (``scoring``), decide the tier
(``tiers``), and write it back with a compare-and-set on the member's version.

Every key of one member shares the ``{m:ID}`` hash tag, so one script can check and
write them together, on one Redis or on Redis Cluster:

- ``salon:{m:ID}:member`` — the hash the gate reads (``tier``) plus the scoring fields
  (``MemberState``) and ``ver``, bumped by every write (operators' writes included);
- ``…:applied`` — event ids already applied (sorted by event time, trimmed by age);
- ``…:caps`` — points earned per ``day:kind``; ``…:orders`` — order id → order;
- ``…:tiers`` — tier history, newest first, each entry with its reason.

Exactly once, by event id: the state and the applied ids are read together, events
already applied are left out, and the write only happens if ``ver`` has not moved since
the read; otherwise the member is read and folded again. All of one member's events in
a batch are written at once, or not at all: a scorer killed half-way leaves whole
members done or untouched, and redoing the batch skips the done ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import msgpack
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.engagement.events import Event, EventKind
from server.engagement.members import (
    HISTORY_KEPT,
    Tier,
    history_key,
    member_key,
)
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import (
    APPLIED_RETENTION_MS,
    MemberState,
    Order,
    apply_events,
    cap_fields,
)
from server.engagement.state_codec import (
    READ_SCRIPT,
    STATE_FIELDS,
    WRITE_SCRIPT,
    caps_key,
    member_keys,
    orders_key,
    state_fields,
    state_from_hash,
    text,
)
from server.engagement.tiers import at_risk, decide, evaluate, next_review
from server.ids import MemberId
from server.redis_client import ClusterScripts, RedisClient, queue_script

logger = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 8
# Members per script call: enough to amortize the round trip and the reply parsing,
# few enough that Redis is never busy with one call for more than a few milliseconds.
MEMBERS_PER_CALL: Final = 100
# Members read, folded and written together (a few script calls each way). Between a
# member's read and its write, another scorer's write to it is a conflict (read and fold
# again): short rounds keep that window short, so scorers sharing the stream seldom
# collide (measured with 2 scorers on a backlog of 2,000 members: 1 member in ~6 re-read
# with the whole batch as one round).
MEMBERS_PER_ROUND: Final = 300
# Errors after which the batch is simply tried again later (Redis restarting, failing
# over, out of memory, or without our scripts). Any other error is about one member's
# keys (a key of the wrong type, say): that member is skipped so it cannot wedge the rest.
TRANSIENT: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    NoScriptError,
)
# Applied ids are trimmed a day after events that old are refused, so that scorers
# whose clocks differ by less than a day never let a trimmed id count twice.
TRIM_MARGIN_MS: Final = DAY_MS


@dataclass(frozen=True, slots=True)
class TierChange:
    member_id: MemberId
    old: Tier | None
    new: Tier
    reason: str
    at: int
    # What caused it: an event id, "sweep", "import".
    cause: str
    # The rule that decided (a tier name, or "pinned"): pages say why in their language.
    rule: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "from": self.old.value if self.old else None,
            "to": self.new.value,
            "reason": self.reason,
            "at": self.at,
            "cause": self.cause,
            "rule": self.rule,
        }


@dataclass(slots=True)
class Outcome:
    """What one ``apply``/``review`` did, for the aggregates and the callers' counters."""

    applied: list[Event] = field(default_factory=list)
    duplicates: int = 0
    too_old: int = 0
    failed: int = 0
    # Orders seen for the first time (a purchase reported again is not one).
    new_orders: int = 0
    # Members whose version moved between our read and our write (another scorer, an
    # operator): read and folded again. A measure of contention between scorers.
    conflicts: int = 0
    changes: list[TierChange] = field(default_factory=list)
    # Members whose state was read (written or not), with their next review time.
    states: dict[MemberId, tuple[MemberState, int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    state: MemberState
    writes: dict[str, Any] | None
    applied: list[Event]
    duplicates: int
    too_old: int
    change: TierChange | None
    due: int
    new_orders: int = 0


class Ledger:
    """Applies events and reviews to member state; one instance per Redis client."""

    def __init__(
        self,
        redis: RedisClient,
        rules: Rules,
        review_ms: int = 6 * 3600 * 1000,
        clock: Callable[[], int] | None = None,
        history: bool = False,
    ) -> None:
        from server.engagement.scoring import now_ms

        self._redis = redis
        # A history import: events of any age are applied, and the ids of those older
        # than the applied-id window are kept for good (``history_ids_key``).
        self._history = history
        self._cluster = isinstance(redis, RedisCluster)
        self.rules = rules
        self._review_ms = review_ms
        self._clock = clock or now_ms
        self._write = redis.register_script(WRITE_SCRIPT)
        self._read = redis.register_script(READ_SCRIPT)
        self._scripts = ClusterScripts(redis, self._read, self._write)

    def now(self) -> int:
        return self._clock()

    async def apply(self, events: Iterable[Event], cause: str | None = None) -> Outcome:
        """Apply ``events`` exactly once each; returns what changed. All of one member's
        events of a day should come in one call when they are older than the daily caps
        kept (``CAP_DAYS_KEPT``): a history import groups them so."""
        by_member: dict[MemberId, list[Event]] = defaultdict(list)
        seen: set[str] = set()
        out = Outcome()
        for event in events:
            if event.id in seen:
                out.duplicates += 1
                continue
            seen.add(event.id)
            by_member[event.member_id].append(event)
        await self._run(by_member, out, cause)
        return out

    async def review(self, member_ids: Iterable[MemberId], cause: str = "sweep") -> Outcome:
        """Re-decide the tiers of ``member_ids`` at the current time (the sweep)."""
        out = Outcome()
        await self._run({m: [] for m in member_ids}, out, cause)
        return out

    async def read(self, member_id: MemberId) -> tuple[MemberState, list[Order]]:
        """One member's state and orders (for explaining)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(member_key(member_id))
            pipe.hgetall(orders_key(member_id))
            raw, orders = await pipe.execute()
        parsed = [Order.decode(text(k), text(v)) for k, v in orders.items()]
        return state_from_hash(member_id, raw), sorted(
            (o for o in parsed if o is not None), key=lambda o: o.ts_ms
        )

    async def caps(self, member_id: MemberId) -> dict[str, float]:
        """The member's points per ``day:kind`` (and ``day:total``) of the last days."""
        raw = await self._redis.hgetall(caps_key(member_id))
        out = {}
        for key, value in raw.items():
            try:
                out[text(key)] = float(value)
            except ValueError:
                continue
        return out

    async def history(self, member_id: MemberId, count: int = 20) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(history_key(member_id), 0, count - 1)
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                continue
        return entries

    async def _run(
        self, by_member: dict[MemberId, list[Event]], out: Outcome, cause: str | None
    ) -> None:
        """Read, fold and write ``by_member`` a round of ``MEMBERS_PER_ROUND`` at a time,
        starting at a random member: a member's read-to-write window stays a round's
        length, and scorers sharing the group rarely work on the same member at once."""
        members = list(by_member)
        if len(members) > MEMBERS_PER_ROUND:
            start = random.randrange(len(members))
            members = members[start:] + members[:start]
        for first in range(0, len(members), MEMBERS_PER_ROUND):
            round_ = members[first : first + MEMBERS_PER_ROUND]
            await self._run_round({m: by_member[m] for m in round_}, out, cause)

    async def _run_round(
        self, by_member: dict[MemberId, list[Event]], out: Outcome, cause: str | None
    ) -> None:
        pending = dict(by_member)
        for _attempt in range(MAX_ATTEMPTS):
            if not pending:
                return
            now = self.now()
            plans = await self._plan_all(pending, now, out, cause)
            conflicts = await self._write_all(plans, now, out, pending)
            out.conflicts += len(conflicts)
            for member_id, plan in plans.items():
                if member_id in conflicts:
                    continue
                out.applied.extend(plan.applied)
                out.duplicates += plan.duplicates
                out.too_old += plan.too_old
                out.new_orders += plan.new_orders
                # The version now stored: what the metrics' projection is keyed by.
                stored = plan.state.version + (1 if plan.writes is not None else 0)
                out.states[member_id] = (replace(plan.state, version=stored), plan.due)
                if plan.change is not None:
                    out.changes.append(plan.change)
            pending = {m: pending[m] for m in conflicts}
        if pending:
            raise LedgerConflict(f"{len(pending)} members kept changing under us; try later")

    def _calls(self, members: Iterable[MemberId]) -> list[list[MemberId]]:
        """Members in groups of at most ``MEMBERS_PER_CALL``, one script call each; on
        Redis Cluster a group also stays within one slot."""
        groups: dict[int, list[list[MemberId]]] = defaultdict(lambda: [[]])
        for member_id in members:
            slot = key_slot(member_key(member_id).encode()) if self._cluster else 0
            chunks = groups[slot]
            if len(chunks[-1]) >= MEMBERS_PER_CALL:
                chunks.append([])
            chunks[-1].append(member_id)
        return [chunk for chunks in groups.values() for chunk in chunks if chunk]

    async def _plan_all(
        self, pending: dict[MemberId, list[Event]], now: int, out: Outcome, cause: str | None
    ) -> dict[MemberId, _Plan]:
        calls = self._calls(pending)
        old_before = now - APPLIED_RETENTION_MS
        names = msgpack.packb(list(STATE_FIELDS))
        # The cap records each member's read asked for, in the order of the reply.
        fields: dict[MemberId, list[str]] = {}
        await self._scripts.ready()
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in calls:
                items = []
                for member_id in call:
                    events = pending[member_id]
                    fields[member_id] = cap_fields(events)
                    items.append(
                        [
                            [e.id for e in events],
                            fields[member_id],
                            1 if any(e.kind is EventKind.PURCHASE for e in events) else 0,
                            [e.id for e in events if e.ts_ms < old_before] if self._history else [],
                        ]
                    )
                await queue_script(
                    pipe,
                    self._read,
                    keys=[k for m in call for k in member_keys(m)],
                    args=[names, msgpack.packb(items)],
                )
            replies = await pipe.execute(raise_on_error=False)
            if any(isinstance(r, NoScriptError) for r in replies):
                self._scripts.forget()  # tried again with the batch, loaded first
        plans: dict[MemberId, _Plan] = {}
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                await self._plan_alone(call, pending, reply, now, out, cause, plans)
                continue
            for member_id, item in zip(call, msgpack.unpackb(reply), strict=True):
                plans[member_id] = self._plan_reply(
                    member_id, pending[member_id], fields[member_id], item, now, cause
                )
            # A few milliseconds of folding per call: let the rooms on this loop run.
            await asyncio.sleep(0)
        return plans

    async def _plan_alone(
        self,
        call: list[MemberId],
        pending: dict[MemberId, list[Event]],
        error: Exception,
        now: int,
        out: Outcome,
        cause: str | None,
        plans: dict[MemberId, _Plan],
    ) -> None:
        """A call failed: a transient error fails the batch; otherwise one member's keys
        are broken (a key of the wrong type), so read each member alone to skip only it."""
        if len(call) == 1 or isinstance(error, TRANSIENT) or not isinstance(error, RedisError):
            self._skip(call[0], pending[call[0]], error, pending, out)
            return
        for member_id in call:
            alone = {member_id: pending[member_id]}
            plans.update(await self._plan_all(alone, now, out, cause))

    def _plan_reply(
        self,
        member_id: MemberId,
        events: list[Event],
        fields: list[str],
        item: list[Any],
        now: int,
        cause: str | None,
    ) -> _Plan:
        values, scores, cap_values, flat, old = item
        raw = {k: v for k, v in zip(STATE_FIELDS, values, strict=True) if v is not False}
        caps = {k: v for k, v in zip(fields, cap_values, strict=False) if v is not False}
        orders = dict(zip(flat[::2], flat[1::2], strict=True))
        seen = {e.id for e, s in zip(events, scores, strict=True) if s is not False}
        if self._history:
            olds = [e for e in events if e.ts_ms < now - APPLIED_RETENTION_MS]
            seen.update(e.id for e, f in zip(olds, old, strict=False) if f)
        return self._plan(state_from_hash(member_id, raw), events, seen, caps, orders, now, cause)

    def _plan(
        self,
        state: MemberState,
        events: list[Event],
        seen: set[str],
        raw_caps: Mapping[Any, Any],
        raw_orders: Mapping[Any, Any],
        now: int,
        cause: str | None,
    ) -> _Plan:
        fresh = [e for e in events if e.id not in seen]
        caps = {}
        for key, value in raw_caps.items():
            try:
                caps[text(key)] = float(value)
            except ValueError:
                continue
        orders = {}
        for key, value in raw_orders.items():
            order = Order.decode(text(key), text(value))
            if order is not None:
                orders[order.order_id] = order
        done = apply_events(state, fresh, self.rules, now, orders, caps, history=self._history)
        new = done.state
        change = None
        tier: Tier | None = None
        if new.is_member and not new.pinned:
            tier = decide(new, self.rules, now)
            risk = tier is not Tier.SILENT and bool(at_risk(new, self.rules, now))
            if risk != new.at_risk:
                new = replace(new, at_risk=risk)
            if tier is not new.tier:
                # The sentences only now: the reason kept with the tier and its history.
                verdict = evaluate(new, self.rules, now)
                trigger = cause or (done.applied[-1].id if done.applied else "sweep")
                change = TierChange(
                    new.member_id,
                    new.tier,
                    verdict.tier,
                    verdict.reason,
                    now,
                    trigger,
                    verdict.rule,
                )
                new = replace(new, tier=verdict.tier, reason=verdict.reason, tier_at=now)
        due = next_review(new, self.rules, now, self._review_ms, tier)
        plan = _Plan(
            new, None, done.applied, len(events) - len(fresh), len(done.too_old), change, due
        )
        plan.new_orders = len(done.new_orders)
        if not done.applied and change is None and new.at_risk == state.at_risk:
            return plan  # nothing to write: duplicates, too old, or an unchanged review
        plan.writes = {
            "h": [x for pair in state_fields(new).items() for x in pair],
            "a": [
                x
                for e in done.applied
                if e.ts_ms >= now - APPLIED_RETENTION_MS
                for x in (str(e.ts_ms), e.id)
            ],
            "trim": str(now - APPLIED_RETENTION_MS - TRIM_MARGIN_MS),
            "ttl": str(APPLIED_RETENTION_MS + TRIM_MARGIN_MS),
            "c": {k: repr(v) for k, v in done.caps.items()},
            "cd": done.caps_dropped,
            "o": {o.order_id: o.encode() for o in done.new_orders},
            "t": json.dumps(_history_entry(change, new)) if change else "",
            "n": str(HISTORY_KEPT),
            "x": [e.id for e in done.applied if e.ts_ms < now - APPLIED_RETENTION_MS],
        }
        return plan

    @staticmethod
    def _skip(
        member_id: MemberId,
        events: list[Event],
        error: Exception,
        pending: dict[MemberId, list[Event]],
        out: Outcome,
    ) -> None:
        if isinstance(error, TRANSIENT) or not isinstance(error, RedisError):
            raise error
        logger.error("cannot apply events to member %s: %s", member_id, error)
        out.failed += len(events) or 1
        pending.pop(member_id, None)

    async def _write_all(
        self,
        plans: dict[MemberId, _Plan],
        now: int,
        out: Outcome,
        pending: dict[MemberId, list[Event]],
    ) -> set[MemberId]:
        """Write every plan that has writes; return the members whose version moved."""
        writing = [m for m, p in plans.items() if p.writes is not None]
        if not writing:
            return set()
        calls = self._calls(writing)
        await self._scripts.ready()
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in calls:
                items = [[str(plans[m].state.version), plans[m].writes] for m in call]
                await queue_script(
                    pipe,
                    self._write,
                    keys=[k for m in call for k in member_keys(m)],
                    args=[msgpack.packb(items)],
                )
            results = await pipe.execute(raise_on_error=False)
            if any(isinstance(r, NoScriptError) for r in results):
                self._scripts.forget()  # tried again with the batch, loaded first
        conflicts: set[MemberId] = set()
        for call, result in zip(calls, results, strict=True):
            if isinstance(result, Exception):
                if len(call) == 1 or isinstance(result, TRANSIENT):
                    self._skip(call[0], pending[call[0]], result, pending, out)
                    plans.pop(call[0])
                    continue
                # One member's keys are broken: write each alone to skip only that one.
                for member_id in call:
                    alone = {member_id: plans[member_id]}
                    conflicts |= await self._write_all(alone, now, out, pending)
                    if member_id not in pending:  # skipped: its keys are broken
                        plans.pop(member_id)
                continue
            conflicts.update(m for m, ok in zip(call, result, strict=True) if ok != 1)
        return conflicts


class LedgerConflict(RedisError):
    """A member's version moved on every attempt; the batch is retried later."""


def _history_entry(change: TierChange, state: MemberState) -> dict[str, Any]:
    return {
        **change.to_json(),
        "score": round(state.score, 3),
        "score_at": state.score_at,
        "orders": state.orders,
    }
