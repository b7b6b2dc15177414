"""Sessions, hook links and RSVPs in Redis, all under the ``{hooks}`` hash tag.

- ``session:<id>`` (JSON) and ``sessions`` (a sorted set by start time);
- ``due:start`` and ``due:end`` (sorted sets): sessions whose start or end has not been
  announced yet; removing a member is the claim (one node announces it);
- ``link:<code>`` (JSON) and ``links`` (a set of codes);
- ``rsvp:<session>``: member id -> JSON ``{"ts_ms", "link"}``, capped by one script.
"""

from __future__ import annotations

import json
from typing import Any, Final

from server.hooks.model import HookError, HookLink, Session
from server.redis_client import Atomic, RedisClient

_P: Final = "salon:{hooks}:"
SESSIONS: Final = _P + "sessions"
DUE_START: Final = _P + "due:start"
DUE_END: Final = _P + "due:end"
LINKS: Final = _P + "links"

# KEYS[1] the RSVP hash. ARGV: member, record, capacity. 1 added, 0 already, -1 full.
RSVP_SCRIPT: Final = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def session_key(session_id: str) -> str:
    return f"{_P}session:{session_id}"


def link_key(code: str) -> str:
    return f"{_P}link:{code}"


def rsvp_key(session_id: str) -> str:
    return f"{_P}rsvp:{session_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HookStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._rsvp = redis.register_script(RSVP_SCRIPT)

    async def put_session(self, session: Session) -> None:
        """Create or reschedule; a rescheduled session is announced again at its times."""
        tx = Atomic(self._redis, SESSIONS)
        tx.set(session_key(session.id), json.dumps(session.to_json()))
        tx.zadd(SESSIONS, {session.id: session.starts_ms})
        tx.zadd(DUE_START, {session.id: session.starts_ms})
        tx.zadd(DUE_END, {session.id: session.ends_ms})
        await tx.execute()

    async def session(self, session_id: str) -> Session:
        raw = await self._redis.get(session_key(session_id))
        if raw is None:
            raise HookError("not_found", what="session", id=session_id)
        return Session.from_json(json.loads(raw))

    async def sessions(self) -> list[Session]:
        ids = [_text(i) for i in await self._redis.zrange(SESSIONS, 0, -1)]
        if not ids:
            return []
        raw = await self._redis.mget([session_key(i) for i in ids])
        return [Session.from_json(json.loads(r)) for r in raw if r is not None]

    async def add_link(self, link: HookLink) -> None:
        if not await self._redis.set(link_key(link.code), json.dumps(link.to_json()), nx=True):
            raise HookError("code_taken", taken=link.code)
        await self._redis.sadd(LINKS, link.code)

    async def link(self, code: str) -> HookLink:
        raw = await self._redis.get(link_key(code)) if len(code) <= 64 else None
        if raw is None:
            raise HookError("not_found", what="hook link", id=code[:64])
        return HookLink.from_json(json.loads(raw))

    async def links(self) -> list[HookLink]:
        codes = sorted(_text(c) for c in await self._redis.smembers(LINKS))
        if not codes:
            return []
        raw = await self._redis.mget([link_key(c) for c in codes])
        return [HookLink.from_json(json.loads(r)) for r in raw if r is not None]

    async def rsvp(self, session: Session, member_id: str, link: str, ts_ms: int) -> bool:
        """True if the member's RSVP is new, False if they had one; ``HookError('full')``."""
        record = json.dumps({"ts_ms": ts_ms, "link": link})
        result = await self._rsvp(
            keys=[rsvp_key(session.id)], args=[member_id, record, session.capacity]
        )
        if int(result) < 0:
            raise HookError("full")
        return int(result) == 1

    async def rsvps(self, session_id: str) -> dict[str, dict[str, Any]]:
        raw = await self._redis.hgetall(rsvp_key(session_id))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    async def has_rsvp(self, session_id: str, member_id: str) -> bool:
        return bool(await self._redis.hexists(rsvp_key(session_id), member_id))

    async def due(self, keys: tuple[str, ...], now_ms: int) -> list[list[str]]:
        """Sessions due by ``now_ms`` in each of ``keys``, read in one round trip (the
        scheduler asks every second, mostly for nothing)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrangebyscore(key, "-inf", now_ms)
            found = await pipe.execute()
        return [[_text(i) for i in ids] for ids in found]

    async def claim_due(self, key: str, due: list[str]) -> list[str]:
        """Of ``due`` (sessions due in ``key``), those this caller claimed (ZREM won)."""
        claimed = []
        for session_id in due:
            if await self._redis.zrem(key, session_id):
                claimed.append(session_id)
        return claimed
