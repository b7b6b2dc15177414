"""The operator's four views, read from the aggregates (``aggregates.py``): funnel,
community health, member value, and campaign effect per room session; plus the tier
distribution over time. Reads only; every figure is plain JSON data.

Rates are ``None`` when their denominator is zero (no invitations yet, no buyers yet):
a dashboard shows "–" rather than a made-up 0 %.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from server.engagement import keys
from server.engagement.members import MEMBER_INDEX_KEY, TIER_NAMES
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import rounded
from server.engagement.tiers import money
from server.ids import is_valid_id
from server.redis_client import RedisClient

CHUNK: Final = 1000
WINDOWS: Final = (7, 30)


def rate(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(part / whole, 4)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _int(value: Any) -> int:
    try:
        return int(float(_text(value) or 0))
    except ValueError:
        return 0


def _float(value: Any) -> float:
    try:
        return float(_text(value) or 0)
    except ValueError:
        return 0.0


def iso(ts_ms: int) -> str | None:
    if ts_ms <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ms // 1000))


def valid_session_name(name: str) -> bool:
    room, sep, session = name.partition(":")
    return bool(sep) and is_valid_id(room) and is_valid_id(session)


class Reports:
    def __init__(self, redis: RedisClient, rules: Rules) -> None:
        self._redis = redis
        self._rules = rules

    async def _count_members(self, key: str, ids: list[str]) -> int:
        found = 0
        for start in range(0, len(ids), CHUNK):
            flags = await self._redis.smismember(key, ids[start : start + CHUNK])
            found += sum(1 for f in flags if f)
        return found

    async def funnel(self, room_invites: Iterable[str] = ()) -> dict[str, Any]:
        """Invited → joined (invite events and room invite lists), hook link → member."""
        invited = {_text(m) for m in await self._redis.smembers(keys.INVITED)}
        invited.update(room_invites)
        hooked = sorted(_text(m) for m in await self._redis.smembers(keys.HOOKED))
        joined = await self._count_members(keys.JOINED, sorted(invited))
        converted = await self._count_members(MEMBER_INDEX_KEY, hooked)
        return {
            "invited": len(invited),
            "invited_joined": joined,
            "invite_join_rate": rate(joined, len(invited)),
            "hook_visitors": len(hooked),
            "hook_members": converted,
            "hook_member_rate": rate(converted, len(hooked)),
        }

    async def _totals(self) -> dict[str, int]:
        raw = await self._redis.hgetall(keys.TOTALS)
        return {_text(k): _int(v) for k, v in raw.items()}

    async def health(self, now: int) -> dict[str, Any]:
        """Active shares, interactions per attendee-minute and early leaves (7 and 30 days)."""
        totals = await self._totals()
        members = totals.get("members", 0)
        sessions = await self._session_stats(now - max(WINDOWS) * DAY_MS)
        out: dict[str, Any] = {"members": members}
        for days in WINDOWS:
            since = now - days * DAY_MS
            active = await self._redis.zcount(keys.LAST_ACTIVE, since, "+inf")
            window = [s for s in sessions if _int(s.get("last_ts")) >= since]
            interactions = sum(_int(s.get("interactions")) for s in window)
            minutes = sum(_float(s.get("watch_s")) for s in window) / 60.0
            leaves = sum(_int(s.get("leaves")) for s in window)
            early = sum(_int(s.get("early_leaves")) for s in window)
            out[f"last_{days}_days"] = {
                "active_members": active,
                "active_share": rate(active, members),
                "sessions": len(window),
                "interactions": interactions,
                "attendee_minutes": round(minutes, 1),
                "interactions_per_attendee_minute": rate(interactions, minutes),
                "leaves": leaves,
                "early_leaves": early,
                "early_leave_rate": rate(early, leaves),
            }
        out["silent_share"] = rate(totals.get("tier:silent", 0), members)
        out["early_leave_seconds"] = self._rules.early_leave_seconds
        return out

    async def value(self) -> dict[str, Any]:
        """Repurchase rate, average order value, LTV (members' orders in the currency)."""
        t = await self._totals()
        buyers, orders, revenue = t.get("buyers", 0), t.get("orders", 0), t.get("revenue", 0)
        valued = t.get("valued_orders", 0)
        return {
            "currency": self._rules.currency,
            "members": t.get("members", 0),
            "buyers": buyers,
            "orders": orders,
            "revenue": money(revenue),
            "repeat_buyers": t.get("repeat_buyers", 0),
            "repeat_purchase_rate": rate(t.get("repeat_buyers", 0), buyers),
            "repurchasers": t.get("repurchasers", 0),
            "repurchase_rate": rate(t.get("repurchasers", 0), buyers),
            "repurchase_window_days": self._rules.repurchase_window_days,
            # Over the orders whose value is known (a currency without a rate is not 0),
            # to the nearest cent (issue 14: both were floored, and AOV diluted).
            "average_order_value": money(rounded(revenue, valued)) if valued else None,
            "orders_without_rate": orders - valued,
            "ltv_per_buyer": money(rounded(revenue, buyers)) if buyers else None,
            "ltv_per_member": money(rounded(revenue, t["members"])) if t.get("members") else None,
        }

    async def at_risk(self, limit: int = 100) -> dict[str, Any]:
        """Members flagged at risk, most valuable first: their orders' value in the
        window (what is at stake) and the total."""
        count = await self._redis.zcard(keys.AT_RISK)
        every: list[Any] = await self._redis.zrevrange(keys.AT_RISK, 0, -1, withscores=True)
        pairs = [(_text(m), int(float(v))) for m, v in every]
        total = sum(v for _, v in pairs)
        top = pairs[:limit]
        return {
            "currency": self._rules.currency,
            "window_days": self._rules.order_window_days,
            "members": count,
            "value_at_stake": money(int(total)),
            "top": [{"member_id": m, "value_in_window": money(v)} for m, v in top],
        }

    async def tiers(self) -> dict[str, Any]:
        """Members per tier now, and hourly snapshots (hours without a change are absent)."""
        t = await self._totals()
        raw = await self._redis.hgetall(keys.TIER_HISTORY)
        history = []
        for hour, counts in sorted((_text(k), _text(v)) for k, v in raw.items()):
            try:
                data = json.loads(counts)
            except ValueError:
                continue
            stamp = f"{hour[:4]}-{hour[4:6]}-{hour[6:8]}T{hour[8:10]}:00:00Z"
            history.append({"hour": stamp, **{n: int(data.get(n, 0)) for n in TIER_NAMES}})
        return {"now": {n: t.get(f"tier:{n}", 0) for n in TIER_NAMES}, "history": history}

    async def _session_stats(self, since: int, limit: int | None = None) -> list[dict[str, str]]:
        names: list[Any]
        if limit is None:
            names = list(await self._redis.zrangebyscore(keys.SESSIONS, since, "+inf"))
        else:
            names = list(await self._redis.zrevrangebyscore(keys.SESSIONS, "+inf", since, 0, limit))
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.session_key(_text(name), "stats"))
            replies = await pipe.execute()
        out = []
        for name, raw in zip(names, replies, strict=True):
            if raw:
                out.append({"name": _text(name), **{_text(k): _text(v) for k, v in raw.items()}})
        return out

    async def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest room sessions with their campaign figures, newest first."""
        stats = await self._session_stats(0, limit)
        return [await self._campaign(s) for s in stats]

    async def session(self, name: str) -> dict[str, Any] | None:
        """One session's campaign figures and its per-minute timeline."""
        raw = await self._redis.hgetall(keys.session_key(name, "stats"))
        if not raw:
            return None
        stats = {"name": name, **{_text(k): _text(v) for k, v in raw.items()}}
        out = await self._campaign(stats)
        minutes: dict[int, dict[str, int]] = {}
        for key, value in (await self._redis.hgetall(keys.session_key(name, "minutes"))).items():
            minute, _, code = _text(key).partition(":")
            slot = minutes.setdefault(int(minute), {"j": 0, "i": 0, "p": 0, "r": 0})
            slot[code] = _int(value)
        out["timeline"] = [
            {
                "minute": iso(m * 60_000),
                "joins": v["j"],
                "interactions": v["i"],
                "purchases": v["p"],
                "revenue": money(v["r"]),
            }
            for m, v in sorted(minutes.items())
        ]
        return out

    async def _campaign(self, stats: dict[str, str]) -> dict[str, Any]:
        name = stats["name"]
        async with self._redis.pipeline(transaction=False) as pipe:
            for part in ("attendees", "participants", "buyers"):
                pipe.scard(keys.session_key(name, part))
            attendees, participants, buyers = await pipe.execute()
        revenue = _int(stats.get("revenue"))
        cost = stats.get("cost")
        cost_minor = _int(cost) if cost is not None else None
        roi = None
        if cost_minor:
            roi = round((revenue - cost_minor) / cost_minor, 4)
        return {
            "session": name,
            "room_id": stats.get("room", name.partition(":")[0]),
            "started": iso(_int(stats.get("first_ts"))),
            "last_event": iso(_int(stats.get("last_ts"))),
            "attendees": attendees,
            "participants": participants,
            "buyers": buyers,
            "interactions": _int(stats.get("interactions")),
            "purchases": _int(stats.get("purchases")),
            "participation_rate": rate(participants, attendees),
            "conversion_rate": rate(buyers, attendees),
            "currency": self._rules.currency,
            "revenue": money(revenue),
            "cost": money(cost_minor) if cost_minor is not None else None,
            "roi": roi,
        }

    async def set_cost(self, name: str, cost: Decimal) -> dict[str, Any] | None:
        """Record what a session cost (for its ROI); None if there is no such session."""
        key = keys.session_key(name, "stats")
        if not await self._redis.exists(key):
            return None
        await self._redis.hset(key, "cost", str(int(cost * 100)))
        return await self.session(name)

    async def overview(self, now: int, room_invites: Iterable[str] = ()) -> dict[str, Any]:
        return {
            "funnel": await self.funnel(room_invites),
            "health": await self.health(now),
            "value": await self.value(),
            "tiers": await self.tiers(),
            "sessions": await self.sessions(20),
        }
