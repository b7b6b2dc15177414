"""Member records in Redis: tier, display name and engagement score, one hash per member.

The gate reads these; the scorer and operators write them. Keys carry a hash tag per
member (``salon:{m:…}``) so that every command about one member stays in one slot.

A member either has a tier set by an operator that scoring leaves alone (*pinned*: the
default of ``members set``), or is scored (*auto*): the scorer then moves them between
tiers. Every write bumps ``ver``, which the scorer's compare-and-set checks, and every
tier change is appended to the member's tier history with its reason. A hash without a
``tier`` is not a member: the scorer keeps state there for visitors (hook links) until
an operator makes them members.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from server.engagement import keys
from server.ids import MemberId
from server.redis_client import RedisClient


class Tier(StrEnum):
    CORE = "core"
    ACTIVE = "active"
    POTENTIAL = "potential"
    SILENT = "silent"


TIER_NAMES = tuple(t.value for t in Tier)


def member_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:member"


def applied_key(member_id: MemberId) -> str:
    """Sorted set of event ids already applied to this member (scorer idempotency)."""
    return f"salon:{{m:{member_id}}}:applied"


def history_key(member_id: MemberId) -> str:
    """The member's tier history, newest first (JSON entries)."""
    return f"salon:{{m:{member_id}}}:tiers"


MEMBER_INDEX_KEY = "salon:members"
HISTORY_KEPT: Final = 200

# KEYS[1] member hash, KEYS[2] tier history.
# ARGV: tier ('' keeps it; a new member gets 'potential'), mode ('auto' | 'pinned' | ''
# keeps it; a new member gets 'auto'), name ('' keeps it), now (ms), since (ms: for a new
# member, or for anyone when ARGV[9] is '1'), cause, history length, member id, '1' to set
# since. Returns the tier before ('' for a new member).
UPSERT_SCRIPT: Final = """
local old = redis.call('HGET', KEYS[1], 'tier')
local tier = ARGV[1]
if tier == '' then tier = old or 'potential' end
local mode = ARGV[2]
if mode == '' then mode = redis.call('HGET', KEYS[1], 'mode') or (old and 'pinned' or 'auto') end
redis.call('HSET', KEYS[1], 'tier', tier, 'mode', mode,
  'updated_at', tostring(math.floor(tonumber(ARGV[4]) / 1000)))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[3]) end
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[1], 'since', ARGV[5])
else
  redis.call('HSETNX', KEYS[1], 'since', ARGV[5])
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
if old ~= tier then
  local reason = tier .. ': set by ' .. ARGV[6]
  redis.call('HSET', KEYS[1], 'reason', reason, 'tier_at', ARGV[4])
  redis.call('LPUSH', KEYS[2], cjson.encode({
    member_id = ARGV[8], ['from'] = old or cjson.null, to = tier, reason = reason,
    at = tonumber(ARGV[4]), cause = ARGV[6]}))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
return old or ''
"""


@dataclass(frozen=True, slots=True)
class Member:
    member_id: MemberId
    tier: Tier
    name: str
    score: float = 0.0
    pinned: bool = True

    def to_json(self) -> dict[str, object]:
        return {
            "member_id": self.member_id,
            "tier": self.tier.value,
            "name": self.name,
            "score": round(self.score, 3),
        }


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    # Bytes that are not UTF-8 (a surrogate written as WTF-8 before the text rules, say)
    # must not keep their member out of every room: they read as U+FFFD.
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _number(value: str, default: float = 0.0) -> float:
    try:
        number = float(value)
    except ValueError:
        return default
    return number if math.isfinite(number) else default


class MemberStore:
    """Reads and writes member hashes. Every call is one round trip (or one pipeline).

    ``half_life_ms`` (from the tier rules) makes ``get`` report the engagement score
    decayed to now; without it the stored figure is reported.
    """

    def __init__(self, redis: RedisClient, half_life_ms: float | None = None) -> None:
        self._redis = redis
        self._half_life_ms = half_life_ms
        self._upsert = redis.register_script(UPSERT_SCRIPT)

    async def get(self, member_id: MemberId) -> Member | None:
        raw = await self._redis.hgetall(member_key(member_id))
        data = {_text(k): _text(v) for k, v in raw.items()}
        if "tier" not in data:
            return None  # no record, or scoring state of someone who is not a member
        try:
            tier = Tier(data["tier"])
        except ValueError:
            # A record with a tier we do not know opens nothing: treat it as the lowest.
            tier = Tier.SILENT
        score = _number(data.get("score") or "0")
        if self._half_life_ms:
            elapsed = time.time() * 1000 - _number(data.get("score_at") or "0")
            score *= math.pow(0.5, max(0.0, elapsed) / self._half_life_ms)
        return Member(
            member_id=member_id,
            tier=tier,
            name=data.get("name") or member_id,
            score=score,
            pinned=data.get("mode", "pinned") != "auto",
        )

    async def set(
        self,
        member_id: MemberId,
        tier: Tier,
        name: str | None = None,
        pinned: bool = True,
        cause: str = "an operator",
    ) -> Member:
        """Create or update a member with this tier: kept as is (``pinned``) or from now
        on decided by scoring."""
        await self.upsert(member_id, tier, name, "pinned" if pinned else "auto", cause=cause)
        member = await self.get(member_id)
        assert member is not None
        return member

    async def upsert(
        self,
        member_id: MemberId,
        tier: Tier | None,
        name: str | None,
        mode: str = "",
        since_ms: int | None = None,
        cause: str = "an operator",
    ) -> str:
        """Write a member record; None/'' keep what is there (``since_ms``, when given,
        replaces the member-since date). Returns the previous tier."""
        now = time.time_ns() // 1_000_000
        old = await self._upsert(
            keys=[member_key(member_id), history_key(member_id)],
            args=[
                tier.value if tier else "",
                mode,
                name or "",
                now,
                since_ms if since_ms is not None else now,
                cause,
                HISTORY_KEPT,
                member_id,
                "1" if since_ms is not None else "0",
            ],
        )
        # Two more slots: the member index, and a review soon (the sweep re-projects the
        # member into the metrics and, for an auto member, re-decides the tier).
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(MEMBER_INDEX_KEY, member_id)
            pipe.zadd(keys.DUE, {member_id: 0})
            await pipe.execute()
        return _text(old)
