"""Consultations in Redis, all under the ``{consult}`` hash tag (one slot on a cluster).

- ``c:<id>``: the record (JSON); ``all`` and ``pending``: sorted sets by request time;
- ``open:<member>``: the member's request that is not over (set only if absent: the
  duplicate check and the write are one step);
- ``last:<member>``: the member's consultation that ended last, kept for the purchase
  attribution window.
Status changes go through one script that checks the status it expects.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Final

from server.consult.model import OPEN, Consultation, ConsultError, Status
from server.redis_client import RedisClient

_P: Final = "salon:{consult}:"
ALL: Final = _P + "all"
PENDING: Final = _P + "pending"

# KEYS: record, pending, open:<member>. ARGV: expected status, new JSON, id, new status.
# -1 unknown, 0 not in the expected status, 1 changed.
MOVE_SCRIPT: Final = """
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if cjson.decode(cur)['status'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] ~= 'pending' then redis.call('ZREM', KEYS[2], ARGV[3]) end
if ARGV[4] == 'declined' or ARGV[4] == 'ended' then
  if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
end
return 1
"""

# KEYS: open:<member>, record, all, pending. ARGV: id, JSON, score. 1 created, else the
# id of the member's open request.
CREATE_SCRIPT: Final = """
local open = redis.call('GET', KEYS[1])
if open then return open end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
"""


def record_key(consult_id: str) -> str:
    return f"{_P}c:{consult_id}"


def open_key(member_id: str) -> str:
    return f"{_P}open:{member_id}"


def last_key(member_id: str) -> str:
    return f"{_P}last:{member_id}"


def orders_key(consult_id: str) -> str:
    return f"{_P}orders:{consult_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ConsultStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._create = redis.register_script(CREATE_SCRIPT)
        self._move = redis.register_script(MOVE_SCRIPT)

    async def create(self, record: Consultation) -> None:
        """Store a new request, or ``ConsultError('already_requested')``."""
        keys = [open_key(record.member_id), record_key(record.id), ALL, PENDING]
        args: list[str | int] = [record.id, json.dumps(record.to_json()), record.requested_ms]
        answer = await self._create(keys=keys, args=args)
        if answer != 1:
            taken = _text(answer)
            if await self.get(taken) is None:  # a stale marker: its record is gone
                await self._redis.delete(open_key(record.member_id))
                return await self.create(record)
            raise ConsultError("already_requested", id=taken)

    async def get(self, consult_id: str) -> Consultation | None:
        raw = await self._redis.get(record_key(consult_id))
        return Consultation.from_json(json.loads(raw)) if raw else None

    async def need(self, consult_id: str) -> Consultation:
        record = await self.get(consult_id)
        if record is None:
            raise ConsultError("not_found", id=consult_id)
        return record

    async def move(self, before: Consultation, after: Consultation) -> None:
        """Save ``after`` (a new status, or new details in the same one) if the stored
        record still has ``before``'s status, else
        ``ConsultError('invalid_state')`` (another advisor answered first)."""
        keys = [record_key(after.id), PENDING, open_key(after.member_id)]
        args = [before.status.value, json.dumps(after.to_json()), after.id, after.status.value]
        answer = await self._move(keys=keys, args=args)
        if answer == -1:
            raise ConsultError("not_found", id=after.id)
        if answer == 0:
            current = await self.need(after.id)
            raise ConsultError("invalid_state", state=current.status.value)

    async def mark_last(self, record: Consultation, ttl_s: int) -> None:
        if ttl_s > 0:
            await self._redis.set(last_key(record.member_id), record.id, ex=ttl_s)

    async def last_of(self, member_id: str) -> str | None:
        raw = await self._redis.get(last_key(member_id))
        return _text(raw) if raw else None

    async def add_order(self, consult_id: str, order_id: str) -> bool:
        """Credit ``order_id`` to a consultation; False if it was credited already."""
        return bool(await self._redis.sadd(orders_key(consult_id), order_id))

    async def with_orders(self, records: list[Consultation]) -> list[Consultation]:
        """``records`` with the orders credited to each."""
        out = []
        for record in records:
            orders = sorted(_text(o) for o in await self._redis.smembers(orders_key(record.id)))
            out.append(replace(record, orders=tuple(orders)))
        return out

    async def _many(self, key: str, limit: int) -> list[Consultation]:
        ids = [_text(i) for i in await self._redis.zrevrange(key, 0, limit - 1)]
        if not ids:
            return []
        raws = await self._redis.mget([record_key(i) for i in ids])
        return [Consultation.from_json(json.loads(r)) for r in raws if r]

    async def pending(self, limit: int = 100) -> list[Consultation]:
        return [c for c in await self._many(PENDING, limit) if c.status is Status.PENDING]

    async def recent(self, limit: int = 100) -> list[Consultation]:
        return await self._many(ALL, limit)

    async def open_of(self, member_id: str) -> Consultation | None:
        raw = await self._redis.get(open_key(member_id))
        record = await self.get(_text(raw)) if raw else None
        return record if record is not None and record.status in OPEN else None
