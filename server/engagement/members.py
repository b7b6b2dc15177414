"""Member records in Redis: tier, display name and engagement score, one hash per member.

The gate reads these; the scorer and operators write them. Keys carry a hash tag per
member (``salon:{m:ID}:…``) so that every command about one member stays in one slot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from server.ids import MemberId


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


MEMBER_INDEX_KEY = "salon:members"


@dataclass(frozen=True, slots=True)
class Member:
    member_id: MemberId
    tier: Tier
    name: str
    score: float = 0.0

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
    return value.decode() if isinstance(value, bytes) else value


class MemberStore:
    """Reads and writes member hashes. Every call is one round trip (or one pipeline)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, member_id: MemberId) -> Member | None:
        raw = await self._redis.hgetall(member_key(member_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        try:
            tier = Tier(data.get("tier", ""))
        except ValueError:
            # A record with a tier we do not know opens nothing: treat it as the lowest.
            tier = Tier.SILENT
        return Member(
            member_id=member_id,
            tier=tier,
            name=data.get("name") or member_id,
            score=float(data.get("score") or 0.0),
        )

    async def set(self, member_id: MemberId, tier: Tier, name: str | None = None) -> Member:
        mapping: dict[FieldT, EncodableT] = {
            "tier": tier.value,
            "updated_at": str(int(time.time())),
        }
        if name is not None:
            mapping["name"] = name
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(member_key(member_id), mapping=mapping)
            pipe.sadd(MEMBER_INDEX_KEY, member_id)
            await pipe.execute()
        member = await self.get(member_id)
        assert member is not None
        return member

    async def list_ids(self) -> list[MemberId]:
        ids = await self._redis.smembers(MEMBER_INDEX_KEY)
        return sorted(MemberId(_text(i)) for i in ids)
