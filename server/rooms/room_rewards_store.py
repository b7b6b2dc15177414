"""A room's rewards in Redis: quiz answers (one per member, atomic), and the records
operators read (drops, draws with their audit, quizzes with their participation).

Keys share the room's ``{r:ID}`` hash tag:

- ``salon:{r:ID}:quiz:QUIZ`` — ``deadline`` (ms) and ``a:MEMBER`` → ``OPTION:AT_MS``; the
  answer script refuses a second answer and anything at or after the deadline;
- ``…:drops``, ``…:draws``, ``…:quizzes`` — JSON records, newest first (capped).

A room session's reward figures (``salon:{s:ROOM:SESSION}:rewards``: claims,
redemptions, discount, draws, entrants, quiz answers, points…) are counters bumped
after each action; the events on the stream remain the complete record.
"""

from __future__ import annotations

import json
from typing import Any, Final

from server.engagement import keys
from server.redis_client import Atomic, RedisClient
from server.rooms.coupon_store import text
from server.rooms.points_store import TOTALS
from server.rooms.reward_errors import RewardError

RECORDS_KEPT: Final = 500
QUIZ_TTL: Final = 7 * 24 * 3600
SESSION_FIELDS: Final = (
    "drops",
    "claims",
    "redemptions",
    "discount",
    "draws",
    "draw_entrants",
    "draw_winners",
    "quizzes",
    "quiz_answers",
    "quiz_correct",
    "checkins",
    "points_issued",
)


# Counted across all sessions too (``GET /api/metrics/rewards``): draw and quiz participation.
TOTAL_FIELDS: Final = frozenset(
    {"draws", "draw_entrants", "draw_winners", "quizzes", "quiz_answers", "quiz_correct"}
)


def session_counter(room_id: str, session: str, field: str) -> tuple[str, str] | None:
    """The (key, field) of one of a room session's counters (None without a session)."""
    if not session:
        return None
    if field not in SESSION_FIELDS:  # pragma: no cover - a programming error
        raise ValueError(f"unknown session field {field!r}")
    return keys.session_key(f"{room_id}:{session}", "rewards"), field


def room_key(room_id: str, part: str) -> str:
    return f"salon:{{r:{room_id}}}:{part}"


# KEYS: quiz. ARGV: member, option, now (ms). Returns 'ok' or a refusal code.
ANSWER_SCRIPT: Final = """
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
if not deadline then return 'no_quiz' end
if tonumber(ARGV[3]) >= deadline then return 'quiz_closed' end
if redis.call('HSETNX', KEYS[1], 'a:' .. ARGV[1], ARGV[2] .. ':' .. ARGV[3]) == 0 then
  return 'already_answered'
end
return 'ok'
"""


class RoomRewardsStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._answer = redis.register_script(ANSWER_SCRIPT)

    # --- quizzes -------------------------------------------------------------------

    async def open_quiz(self, room_id: str, quiz_id: str, deadline_ms: int) -> None:
        key = room_key(room_id, f"quiz:{quiz_id}")
        tx = Atomic(self._redis, key)
        tx.hset(key, "deadline", deadline_ms)
        tx.expire(key, QUIZ_TTL)
        await tx.execute()

    async def answer(
        self, room_id: str, quiz_id: str, member: str, option: int, now_ms: int
    ) -> None:
        """Keep ``member``'s one answer, or ``RewardError`` (late, already answered)."""
        reply = text(
            await self._answer(
                keys=[room_key(room_id, f"quiz:{quiz_id}")], args=[member, option, now_ms]
            )
        )
        if reply == "no_quiz":
            raise RewardError("no_quiz", quiz=quiz_id)
        if reply != "ok":
            raise RewardError(reply)

    async def answers(self, room_id: str, quiz_id: str) -> dict[str, tuple[int, int]]:
        raw = await self._redis.hgetall(room_key(room_id, f"quiz:{quiz_id}"))
        out: dict[str, tuple[int, int]] = {}
        for key, value in raw.items():
            name = text(key)
            if name.startswith("a:"):
                option, _, at = text(value).partition(":")
                out[name[2:]] = (int(option), int(at))
        return out

    # --- records ---------------------------------------------------------------------

    async def add_record(self, room_id: str, kind: str, record: dict[str, Any]) -> None:
        """Keep a drop, draw or quiz record for operators (newest first)."""
        key = room_key(room_id, kind)
        tx = Atomic(self._redis, key)
        tx.lpush(key, json.dumps(record, separators=(",", ":")))
        tx.ltrim(key, 0, RECORDS_KEPT - 1)
        await tx.execute()

    async def records(self, room_id: str, kind: str, limit: int = 50) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(room_key(room_id, kind), 0, limit - 1)
        return [json.loads(item) for item in raw]

    # --- a session's figures -----------------------------------------------------------

    async def count(self, session: str, **amounts: int) -> None:
        """Bump ``session``'s counters (``ROOM:SESSION``); unknown names are a bug."""
        key = keys.session_key(session, "rewards")
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, amount in amounts.items():
                if name not in SESSION_FIELDS:  # pragma: no cover - a programming error
                    raise ValueError(f"unknown session field {name!r}")
                pipe.hincrby(key, name, amount)
                if name in TOTAL_FIELDS:
                    pipe.hincrby(TOTALS, name, amount)
            await pipe.execute()

    async def session_figures(self, session: str) -> dict[str, Any]:
        raw = await self._redis.hgetall(keys.session_key(session, "rewards"))
        got = {text(k): int(text(v)) for k, v in raw.items()}
        out: dict[str, Any] = {name: got.get(name, 0) for name in SESSION_FIELDS}
        out["discount"] = f"{out['discount'] / 100:.2f}"
        return out
