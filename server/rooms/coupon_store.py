"""Coupons in Redis: definitions, drops, claims and redemptions, each atomic.

Every key of one coupon shares the ``{c:ID}`` hash tag, so each rule is one Lua script
on one slot (one Redis or Redis Cluster):

- ``salon:{c:ID}:coupon`` — ``spec`` (JSON), ``claimed`` and ``redeemed`` counters;
- ``…:claims`` — member id → claims made; ``…:codes`` — code → JSON (member, drop,
  claimed at, and once used: order, used at);
- ``…:drops`` — drop id → JSON (room, session, when, by) and ``DROP:claims``,
  ``DROP:redeemed``, ``DROP:discount`` (minor units) counters.

``claim`` never grants more than the stock nor more than the per-member limit, however
many claims arrive at once: the script reads and writes the counters with nothing in
between. A code is found again through ``salon:{k:CODE}:code`` (code → coupon id),
written after the claim; ``salon:coupons`` lists the coupon ids.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Final

from server.engagement.members import Tier
from server.redis_client import RedisClient
from server.rooms.reward_errors import RewardError
from server.rooms.rewards import CouponSpec, make_code

COUPON_INDEX: Final = "salon:coupons"
CODE_TTL: Final = 400 * 24 * 3600
_CODE_ATTEMPTS: Final = 5


def coupon_key(coupon_id: str, part: str) -> str:
    return f"salon:{{c:{coupon_id}}}:{part}"


def code_key(code: str) -> str:
    return f"salon:{{k:{code}}}:code"


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# KEYS: coupon, claims, codes, drops. ARGV: member, code, drop, now (ms), '1' to skip the
# per-member limit (a prize). Returns {'ok', remaining} or {code[, param]}.
CLAIM_SCRIPT: Final = """
local spec = redis.call('HGET', KEYS[1], 'spec')
if not spec then return {'no_coupon'} end
local s = cjson.decode(spec)
local now = tonumber(ARGV[4])
if s.expires_ms > 0 and now >= s.expires_ms then return {'expired'} end
local claimed = tonumber(redis.call('HGET', KEYS[1], 'claimed') or '0')
if claimed >= s.count then return {'sold_out'} end
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[5] ~= '1' and mine >= s.per_member then return {'claim_limit', tostring(s.per_member)} end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return {'retry'} end
redis.call('HSET', KEYS[1], 'claimed', claimed + 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[3], ARGV[2], cjson.encode({m = ARGV[1], d = ARGV[3], at = ARGV[4]}))
redis.call('HINCRBY', KEYS[4], ARGV[3] .. ':claims', 1)
return {'ok', tostring(s.count - claimed - 1)}
"""

# KEYS: coupon, codes, drops. ARGV: code, member, order id, now (ms). Returns
# {'ok', drop, '0' | '1' (the same order again), value} or {code[, param]}.
REDEEM_SCRIPT: Final = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'no_code'} end
local c = cjson.decode(raw)
if c.m ~= ARGV[2] then return {'not_your_code'} end
local s = cjson.decode(redis.call('HGET', KEYS[1], 'spec'))
if c.r then
  if c.r == ARGV[3] then return {'ok', c.d, '1', s.value} end
  return {'already_redeemed', c.r}
end
if s.expires_ms > 0 and tonumber(ARGV[4]) >= s.expires_ms then return {'code_expired'} end
c.r = ARGV[3]
c.rat = ARGV[4]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(c))
redis.call('HINCRBY', KEYS[1], 'redeemed', 1)
redis.call('HINCRBY', KEYS[3], c.d .. ':redeemed', 1)
redis.call('HINCRBY', KEYS[3], c.d .. ':discount', math.floor(tonumber(s.value) * 100 + 0.5))
return {'ok', c.d, '0', s.value}
"""


@dataclass(frozen=True, slots=True)
class Claim:
    code: str
    remaining: int


@dataclass(frozen=True, slots=True)
class Redemption:
    coupon_id: str
    drop_id: str
    value: str
    repeat: bool  # the same order reported again: nothing changed


def spec_from_json(data: dict[str, Any]) -> CouponSpec:
    return CouponSpec(
        coupon_id=data["id"],
        title=data["title"],
        pattern=data["pattern"],
        value=data["value"],
        tiers=tuple(Tier(t) for t in data["tiers"]),
        count=int(data["count"]),
        per_member=int(data["per_member"]),
        expires_ms=int(data["expires_ms"]),
    )


def _refusal(reply: list[Any], **params: Any) -> RewardError:
    code = text(reply[0])
    if code == "claim_limit":
        return RewardError(code, limit=int(reply[1]))
    if code == "already_redeemed":
        return RewardError(code, order=text(reply[1]))
    return RewardError(code, **params)


class CouponStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._redeem = redis.register_script(REDEEM_SCRIPT)

    async def put(self, spec: CouponSpec) -> None:
        """Create or replace a definition; counters and codes already given stay."""
        await self._redis.hset(coupon_key(spec.coupon_id, "coupon"), "spec", _dumps(spec))
        await self._redis.sadd(COUPON_INDEX, spec.coupon_id)

    async def get(self, coupon_id: str) -> CouponSpec | None:
        raw = await self._redis.hget(coupon_key(coupon_id, "coupon"), "spec")
        return spec_from_json(json.loads(raw)) if raw else None

    async def claimed(self, coupon_id: str) -> int:
        return int(text(await self._redis.hget(coupon_key(coupon_id, "coupon"), "claimed") or 0))

    async def ids(self) -> list[str]:
        return sorted(text(i) for i in await self._redis.smembers(COUPON_INDEX))

    async def record_drop(self, coupon_id: str, drop_id: str, info: dict[str, Any]) -> None:
        await self._redis.hset(coupon_key(coupon_id, "drops"), drop_id, json.dumps(info))

    async def claim(
        self,
        spec: CouponSpec,
        member: str,
        drop_id: str,
        now_ms: int,
        counter: tuple[str, str] | None = None,
        prize: bool = False,
    ) -> Claim:
        """One claim of ``spec`` for ``member`` through ``drop_id``, or ``RewardError``.

        A granted claim also bumps ``counter`` (key, field), in the same round trip as the
        code's index."""
        rng = random.SystemRandom()
        keys = [coupon_key(spec.coupon_id, p) for p in ("coupon", "claims", "codes", "drops")]
        for _ in range(_CODE_ATTEMPTS):
            code = make_code(spec.pattern, rng)
            reply = await self._claim(
                keys=keys, args=[member, code, drop_id, now_ms, "1" if prize else "0"]
            )
            if text(reply[0]) == "ok":
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(code_key(code), spec.coupon_id, ex=CODE_TTL)
                    if counter is not None:
                        pipe.hincrby(counter[0], counter[1], 1)
                    await pipe.execute()
                return Claim(code, int(reply[1]))
            if text(reply[0]) != "retry":
                raise _refusal(reply, coupon=spec.coupon_id)
        raise RewardError("unavailable")  # pragma: no cover - 5 collisions in a row

    async def redeem(self, code: str, member: str, order_id: str, now_ms: int) -> Redemption:
        raw = await self._redis.get(code_key(code))
        if raw is None:
            raise RewardError("no_code")
        coupon_id = text(raw)
        keys = [coupon_key(coupon_id, p) for p in ("coupon", "codes", "drops")]
        reply = await self._redeem(keys=keys, args=[code, member, order_id, now_ms])
        if text(reply[0]) != "ok":
            raise _refusal(reply)
        return Redemption(coupon_id, text(reply[1]), text(reply[3]), text(reply[2]) == "1")

    async def figures(self, coupon_id: str) -> dict[str, Any] | None:
        """The definition, its counters and every drop's claims and redemptions."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(coupon_key(coupon_id, "coupon"))
            pipe.hgetall(coupon_key(coupon_id, "drops"))
            head, drops_raw = await pipe.execute()
        if not head:
            return None
        fields = {text(k): text(v) for k, v in head.items()}
        raw_drops = {text(k): text(v) for k, v in drops_raw.items()}
        drops: dict[str, dict[str, Any]] = {}
        for key, value in raw_drops.items():
            drop, sep, counter = key.rpartition(":")
            if sep and counter in ("claims", "redeemed", "discount"):
                drops.setdefault(drop, {"id": drop})[counter] = int(value)
            else:
                drops.setdefault(key, {"id": key}).update(json.loads(value))
        for entry in drops.values():
            for counter in ("claims", "redeemed", "discount"):
                entry.setdefault(counter, 0)
            entry["discount"] = f"{entry['discount'] / 100:.2f}"
        return {
            "coupon": json.loads(fields["spec"]),
            "claimed": int(fields.get("claimed", 0)),
            "redeemed": int(fields.get("redeemed", 0)),
            "drops": sorted(drops.values(), key=lambda d: str(d.get("at", ""))),
        }


def _dumps(spec: CouponSpec) -> str:
    return json.dumps(spec.to_json(), separators=(",", ":"))
