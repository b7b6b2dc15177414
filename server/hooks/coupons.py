"""The coupon a hook link may carry: its check when the link is made, and its one claim
per member through the link.

The claim is ``CouponStore.claim`` (the atomic Lua claim of the rooms' drops), through
the drop ``hook:CODE``. The answer, a code or the coupon's refusal, is kept in
``salon:{hooks}:coupon:<code>`` (member id -> JSON) and given again to a member who RSVPs
again; ``HSETNX`` of a pending marker makes one request the claimer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from server.engagement.members import Tier
from server.hooks.model import HookError, HookLink, Session, parse_link
from server.hooks.store import HookStore
from server.redis_client import RedisClient
from server.rooms.coupon_store import CouponStore, text
from server.rooms.reward_errors import RewardError
from server.rooms.rewards import CouponSpec

_PENDING: Final = "pending"
_WAIT_STEPS: Final = 40  # x 50 ms: how long a second request waits for the claimer


def grant_key(code: str) -> str:
    return f"salon:{{hooks}}:coupon:{code}"


async def check_coupon(coupons: CouponStore, coupon_id: str) -> CouponSpec | None:
    """The spec of a link's coupon; ``HookError('not_found')`` if it names none that exists."""
    if not coupon_id:
        return None
    spec = await coupons.get(coupon_id)
    if spec is None:
        raise HookError("not_found", what="coupon", id=coupon_id)
    return spec


async def add_link(
    store: HookStore, coupons: CouponStore, session: Session, body: dict[str, Any]
) -> HookLink:
    """Parse, check (its coupon must exist) and save an operator's new link."""
    link = parse_link(session.id, body)
    await check_coupon(coupons, link.coupon)
    await store.add_link(link)
    return link


def _refused(spec: CouponSpec | None, coupon_id: str, exc: RewardError) -> dict[str, Any]:
    return {
        "id": coupon_id,
        "title": spec.title if spec else "",
        "value": spec.value if spec else "",
        "code": None,
        "refused": exc.code,
        "params": exc.params,
    }


class HookCoupons:
    def __init__(self, redis: RedisClient, coupons: CouponStore) -> None:
        self._redis = redis
        self._coupons = coupons

    async def teaser(self, link: HookLink) -> dict[str, Any] | None:
        """What the public view says of the link's coupon: its title, never a code."""
        spec = await self._coupons.get(link.coupon) if link.coupon else None
        return {"title": spec.title} if spec else None

    async def given(self, link: HookLink, member: str) -> dict[str, Any] | None:
        """The answer already given to ``member`` through ``link``, if any."""
        if not link.coupon:
            return None
        raw = await self._redis.hget(grant_key(link.code), member)
        if raw is None or text(raw) == _PENDING:
            return None
        answer: dict[str, Any] = json.loads(raw)
        return answer

    async def grant(self, link: HookLink, member: str, tier: Tier, now: int) -> dict[str, Any]:
        """Claim the link's coupon for ``member`` once; later calls answer the same."""
        key = grant_key(link.code)
        for _ in range(_WAIT_STEPS):
            if await self._redis.hsetnx(key, member, _PENDING):
                try:
                    answer = await self._claim(link, member, tier, now)
                except BaseException:
                    await self._redis.hdel(key, member)
                    raise
                await self._redis.hset(key, member, json.dumps(answer))
                return answer
            known = await self.given(link, member)
            if known is not None:
                return known
            await asyncio.sleep(0.05)
        raise RewardError("unavailable")

    async def _claim(self, link: HookLink, member: str, tier: Tier, now: int) -> dict[str, Any]:
        spec = await self._coupons.get(link.coupon)
        try:
            if spec is None:
                raise RewardError("no_coupon", coupon=link.coupon)
            if spec.tiers and tier not in spec.tiers:
                raise RewardError(
                    "not_eligible", tiers=[t.value for t in spec.tiers], tier=tier.value
                )
            got = await self._coupons.claim(spec, member, f"hook:{link.code}", now)
        except RewardError as exc:
            if exc.code == "unavailable":
                raise
            return _refused(spec, link.coupon, exc)
        return {"id": spec.coupon_id, "title": spec.title, "value": spec.value, "code": got.code}
