"""Reward points and check-ins in Redis: a ledger per member, each change exactly once.

Every key of one member's ledger shares the member's ``{m:ID}`` hash tag:

- ``salon:{m:ID}:points`` — ``balance``, ``earned``, ``spent``;
- ``…:points_ids`` — ids of the changes applied (sorted by time): a change carries an id
  that says what it is for (``checkin:DAY``, ``attend:ROOM:SESSION``, ``order:ID``,
  ``quiz:ROOM:QUIZ``, ``redeem:ID``), and an id already there changes nothing, so a retry,
  a reconnect or a repeated webhook never counts twice;
- ``…:points_log`` — the latest changes, newest first (JSON);
- ``…:checkin`` — ``last_day`` (UTC days since 1970), ``streak``, ``days``.

A spend refuses to take the balance below zero, in the same script that takes it.
Points rewards (a title, a cost, the coupon they give) live in ``salon:{rewards}:catalog``
and totals across members in ``salon:{rewards}:totals``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from server.engagement.reward_points import PointRules
from server.redis_client import RedisClient
from server.rooms.coupon_store import text
from server.rooms.reward_errors import RewardError

LOG_KEPT: Final = 200
CATALOG: Final = "salon:{rewards}:catalog"
TOTALS: Final = "salon:{rewards}:totals"


def points_key(member: str, part: str) -> str:
    return f"salon:{{m:{member}}}:{part}"


# Shared by both scripts: apply ``amount`` points (negative: a spend) once for ``id``,
# with ``reason``, at ``now`` (ms). KEYS[k..k+2]: points, ids, log.
_APPLY: Final = """
local function apply(k, id, amount, reason, now)
  local balance = tonumber(redis.call('HGET', KEYS[k], 'balance') or '0')
  if redis.call('ZSCORE', KEYS[k + 1], id) then return {'dup', tostring(balance)} end
  if amount < 0 then
    if balance + amount < 0 then return {'short', tostring(balance)} end
    redis.call('HINCRBY', KEYS[k], 'spent', -amount)
  else
    redis.call('HINCRBY', KEYS[k], 'earned', amount)
  end
  balance = redis.call('HINCRBY', KEYS[k], 'balance', amount)
  redis.call('ZADD', KEYS[k + 1], now, id)
  redis.call('LPUSH', KEYS[k + 2], cjson.encode({id = id, points = amount, reason = reason,
    at = now}))
  redis.call('LTRIM', KEYS[k + 2], 0, LOG_LAST)
  return {'ok', tostring(balance)}
end
""".replace("LOG_LAST", str(LOG_KEPT - 1))

# KEYS: points, ids, log. ARGV: id, points, reason, now.
APPLY_SCRIPT: Final = (
    _APPLY + "return apply(1, ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]))"
)

# KEYS: checkin, points, ids, log. ARGV: today, checkin points, streak bonus, bonus cap,
# now. Returns {'ok', streak, points, balance} or {'already', streak, '0', balance}.
CHECKIN_SCRIPT: Final = (
    _APPLY
    + """
local today = tonumber(ARGV[1])
local now = tonumber(ARGV[5])
local last = tonumber(redis.call('HGET', KEYS[1], 'last_day') or '-10')
local streak = tonumber(redis.call('HGET', KEYS[1], 'streak') or '0')
if last == today then
  local balance = redis.call('HGET', KEYS[2], 'balance') or '0'
  return {'already', tostring(streak), '0', balance}
end
if last == today - 1 then streak = streak + 1 else streak = 1 end
local points = tonumber(ARGV[2]) + math.min(tonumber(ARGV[3]) * (streak - 1), tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'last_day', today, 'streak', streak)
redis.call('HINCRBY', KEYS[1], 'days', 1)
local reply = apply(2, 'checkin:' .. ARGV[1], points, 'check-in', now)
return {'ok', tostring(streak), tostring(points), reply[2]}
"""
)


@dataclass(frozen=True, slots=True)
class CheckIn:
    streak: int
    points: int
    balance: int


class PointsStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._apply = redis.register_script(APPLY_SCRIPT)
        self._checkin = redis.register_script(CHECKIN_SCRIPT)

    def _keys(self, member: str) -> list[str]:
        return [points_key(member, p) for p in ("points", "points_ids", "points_log")]

    async def award(
        self, member: str, change_id: str, points: int, reason: str, now_ms: int
    ) -> tuple[bool, int]:
        """Add ``points`` once for ``change_id``: (applied now, balance)."""
        if points <= 0:
            return False, await self.balance(member)
        reply = await self._apply(keys=self._keys(member), args=[change_id, points, reason, now_ms])
        applied = text(reply[0]) == "ok"
        if applied:
            await self._redis.hincrby(TOTALS, "points_issued", points)
        return applied, int(text(reply[1]))

    async def spend(
        self, member: str, change_id: str, points: int, reason: str, now_ms: int
    ) -> tuple[bool, int]:
        """Take ``points`` once for ``change_id``: (applied now, balance after), or
        ``RewardError('not_enough_points')`` changing nothing."""
        reply = await self._apply(
            keys=self._keys(member), args=[change_id, -points, reason, now_ms]
        )
        status, balance = text(reply[0]), int(text(reply[1]))
        if status == "short":
            raise RewardError("not_enough_points", balance=balance, cost=points)
        if status == "ok":
            await self._redis.hincrby(TOTALS, "points_redeemed", points)
        return status == "ok", balance

    async def check_in(self, member: str, day: int, rules: PointRules, now_ms: int) -> CheckIn:
        """Today's check-in, or ``RewardError('already_checked_in')``."""
        reply = await self._checkin(
            keys=[points_key(member, "checkin"), *self._keys(member)],
            args=[day, rules.checkin, rules.streak_bonus, rules.streak_bonus_cap, now_ms],
        )
        streak = int(text(reply[1]))
        if text(reply[0]) == "already":
            raise RewardError("already_checked_in", streak=streak)
        points = int(text(reply[2]))
        await self._redis.hincrby(TOTALS, "checkins", 1)
        await self._redis.hincrby(TOTALS, "points_issued", points)
        return CheckIn(streak, points, int(text(reply[3])))

    async def balance(self, member: str) -> int:
        return int(text(await self._redis.hget(points_key(member, "points"), "balance") or 0))

    async def account(self, member: str) -> dict[str, Any]:
        """Balance, totals, check-in streak and the latest changes."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(points_key(member, "points"))
            pipe.hgetall(points_key(member, "checkin"))
            pipe.lrange(points_key(member, "points_log"), 0, 49)
            points, checkin, log = await pipe.execute()
        p = {text(k): int(text(v)) for k, v in points.items()}
        c = {text(k): int(text(v)) for k, v in checkin.items()}
        return {
            "member_id": member,
            "balance": p.get("balance", 0),
            "earned": p.get("earned", 0),
            "spent": p.get("spent", 0),
            "checkin": {
                "last_day": c.get("last_day"),
                "streak": c.get("streak", 0),
                "days": c.get("days", 0),
            },
            "log": [json.loads(entry) for entry in log],
        }

    async def streak(self, member: str, today: int) -> tuple[int, bool]:
        """(current streak, checked in today); a streak broken yesterday shows 0."""
        raw = await self._redis.hgetall(points_key(member, "checkin"))
        c = {text(k): int(text(v)) for k, v in raw.items()}
        last = c.get("last_day", -10)
        streak = c.get("streak", 0) if last >= today - 1 else 0
        return streak, last == today

    # --- the catalog of points rewards --------------------------------------------------

    async def put_reward(self, reward_id: str, reward: dict[str, Any]) -> None:
        await self._redis.hset(CATALOG, reward_id, json.dumps(reward))

    async def reward(self, reward_id: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(CATALOG, reward_id)
        return {"id": reward_id, **json.loads(raw)} if raw else None

    async def rewards(self) -> list[dict[str, Any]]:
        raw = await self._redis.hgetall(CATALOG)
        return sorted(
            ({"id": text(k), **json.loads(v)} for k, v in raw.items()), key=lambda r: r["id"]
        )

    async def totals(self) -> dict[str, int]:
        raw = await self._redis.hgetall(TOTALS)
        out = dict.fromkeys(
            ("points_issued", "points_redeemed", "checkins", "draws", "draw_entrants",
             "draw_winners", "quizzes", "quiz_answers", "quiz_correct"),
            0,
        )  # fmt: skip
        out.update({text(k): int(text(v)) for k, v in raw.items()})
        return out
