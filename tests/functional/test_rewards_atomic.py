"""Every atomic rewards rule against a real Redis, under concurrency.

Coupon stock under 500 concurrent claims, the per-member limit, one quiz answer per
member, points exactly once, spends that never overdraw, one check-in a day with its
streak, and a coupon code redeemed once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.reward_points import PointRules
from server.rooms.coupon_store import CouponStore
from server.rooms.points_store import PointsStore
from server.rooms.reward_errors import RewardError
from server.rooms.rewards import CouponSpec, parse_coupon
from server.rooms.room_rewards_store import RoomRewardsStore

NOW = 1_800_000_000_000


def coupon(count: int = 100, per_member: int = 1, expires_ms: int = 0) -> CouponSpec:
    return parse_coupon(
        "spring",
        {
            "title": "Spring offer",
            "value": "10.00",
            "count": count,
            "per_member": per_member,
            "expires_ms": expires_ms,
            "pattern": "SPR-######",
        },
    )


async def outcome(call: asyncio.Future[object] | object) -> str:
    try:
        await call  # type: ignore[misc]
    except RewardError as exc:
        return exc.code
    return "ok"


async def test_500_concurrent_claims_grant_exactly_the_stock(
    redis: Redis, redis_server: EmbeddedRedis
) -> None:
    # 100 connections that wait for each other rather than fail, with patient timeouts:
    # the stock's worth of scripts in flight at once. (500 sockets opened in the same
    # instant on a loaded machine made some connects time out, which says nothing about
    # the rule.)
    pool = BlockingConnectionPool.from_url(
        redis_server.url, max_connections=100, timeout=120, socket_timeout=120,
        socket_connect_timeout=120,
    )  # fmt: skip
    wide = Redis(connection_pool=pool)
    store = CouponStore(wide)
    spec = coupon(count=100)
    await store.put(spec)
    members = [f"m{i}" for i in range(500)]
    try:
        results = await asyncio.gather(
            *(store.claim(spec, m, "d1", NOW) for m in members), return_exceptions=True
        )
    finally:
        await wide.aclose()
    granted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RewardError)]
    failed = [repr(r) for r in results if isinstance(r, BaseException) and r not in refused]
    assert not failed, failed[:3]
    assert len(granted) == 100
    assert len(refused) == 400 and {r.code for r in refused} == {"sold_out"}
    assert len({g.code for g in granted}) == 100
    figures = await store.figures("spring")
    assert figures is not None
    assert figures["claimed"] == 100
    assert figures["drops"] == [{"id": "d1", "claims": 100, "redeemed": 0, "discount": "0.00"}]
    codes = await redis.hgetall("salon:{c:spring}:codes")
    holders = Counter(v.split(b'"m":"')[1].split(b'"')[0] for v in codes.values())
    assert len(holders) == 100 and max(holders.values()) == 1, "someone got two"


async def test_one_member_clicking_many_times_gets_the_per_member_limit(redis: Redis) -> None:
    store = CouponStore(redis)
    spec = coupon(count=100, per_member=2)
    await store.put(spec)
    results = await asyncio.gather(
        *(outcome(store.claim(spec, "ada", "d1", NOW)) for _ in range(30))
    )
    assert Counter(results) == {"ok": 2, "claim_limit": 28}


async def test_an_expired_coupon_grants_nothing(redis: Redis) -> None:
    store = CouponStore(redis)
    spec = coupon(expires_ms=NOW)
    await store.put(spec)
    assert await outcome(store.claim(spec, "ada", "d1", NOW)) == "expired"
    figures = await store.figures("spring")
    assert figures is not None and figures["claimed"] == 0


async def test_a_code_is_redeemed_once_whatever_the_race(redis: Redis) -> None:
    store = CouponStore(redis)
    spec = coupon()
    await store.put(spec)
    got = await store.claim(spec, "ada", "d1", NOW)
    results = await asyncio.gather(
        *(outcome(store.redeem(got.code, "ada", f"order-{i}", NOW)) for i in range(20))
    )
    assert Counter(results) == {"ok": 1, "already_redeemed": 19}
    # The same order reported again is not a second use.
    first = await redis.hget("salon:{c:spring}:codes", got.code)
    order = first.split(b'"r":"')[1].split(b'"')[0].decode()
    again = await store.redeem(got.code, "ada", order, NOW)
    assert again.repeat and again.drop_id == "d1"
    assert await outcome(store.redeem(got.code, "ben", "order-x", NOW)) == "not_your_code"
    assert await outcome(store.redeem("SPR-NOPE00", "ada", "order-y", NOW)) == "no_code"
    figures = await store.figures("spring")
    assert figures is not None and figures["redeemed"] == 1
    assert figures["drops"][0]["redeemed"] == 1 and figures["drops"][0]["discount"] == "10.00"


async def test_one_quiz_answer_per_member_and_none_after_the_deadline(redis: Redis) -> None:
    store = RoomRewardsStore(redis)
    await store.open_quiz("vip", "q1", NOW + 10_000)
    results = await asyncio.gather(
        *(outcome(store.answer("vip", "q1", "ada", i % 3, NOW + i)) for i in range(25))
    )
    assert Counter(results) == {"ok": 1, "already_answered": 24}
    assert await outcome(store.answer("vip", "q1", "ben", 1, NOW + 10_000)) == "quiz_closed"
    assert await outcome(store.answer("vip", "q9", "ben", 1, NOW)) == "no_quiz"
    answers = await store.answers("vip", "q1")
    assert list(answers) == ["ada"]


async def test_points_for_one_reason_count_exactly_once(redis: Redis) -> None:
    points = PointsStore(redis)
    results = await asyncio.gather(
        *(points.award("ada", "order:o-1", 25, "purchase", NOW) for _ in range(40))
    )
    assert sum(1 for applied, _ in results if applied) == 1
    assert await points.balance("ada") == 25
    await points.award("ada", "order:o-2", 5, "purchase", NOW)
    account = await points.account("ada")
    assert (account["balance"], account["earned"], account["spent"]) == (30, 30, 0)
    assert [e["id"] for e in account["log"]] == ["order:o-2", "order:o-1"]


async def test_spends_never_take_the_balance_below_zero(redis: Redis) -> None:
    points = PointsStore(redis)
    await points.award("ada", "seed", 100, "test", NOW)
    results = await asyncio.gather(
        *(outcome(points.spend("ada", f"redeem:{i}", 30, "reward", NOW)) for i in range(10))
    )
    assert Counter(results) == {"ok": 3, "not_enough_points": 7}
    assert await points.balance("ada") == 10
    # A spend repeated with its id is not taken twice.
    applied, balance = await points.spend("ada", "redeem:0", 30, "reward", NOW)
    assert (applied, balance) == (False, 10)


async def test_one_check_in_a_day_and_the_streak(redis: Redis) -> None:
    points = PointsStore(redis)
    rules = PointRules(checkin=10, streak_bonus=2, streak_bonus_cap=4)
    day = 20_000
    results = await asyncio.gather(
        *(outcome(points.check_in("ada", day, rules, NOW)) for _ in range(10))
    )
    assert Counter(results) == {"ok": 1, "already_checked_in": 9}
    second = await points.check_in("ada", day + 1, rules, NOW)
    third = await points.check_in("ada", day + 2, rules, NOW)
    fourth = await points.check_in("ada", day + 3, rules, NOW)
    assert [second.streak, third.streak, fourth.streak] == [2, 3, 4]
    assert (
        [second.points, third.points, fourth.points]
        == [
            rules.checkin_points(2),
            rules.checkin_points(3),
            rules.checkin_points(4),
        ]
        == [12, 14, 14]
    )
    broken = await points.check_in("ada", day + 5, rules, NOW)
    assert (broken.streak, broken.points) == (1, 10)
    assert broken.balance == 10 + 12 + 14 + 14 + 10
    assert await points.streak("ada", day + 5) == (1, True)
    assert await points.streak("ada", day + 7) == (0, False)


@pytest.mark.parametrize("member", ["ada"])
async def test_a_refused_check_in_changes_nothing(redis: Redis, member: str) -> None:
    points = PointsStore(redis)
    rules = PointRules()
    await points.check_in(member, 5, rules, NOW)
    before = await points.account(member)
    assert await outcome(points.check_in(member, 5, rules, NOW)) == "already_checked_in"
    assert await points.account(member) == before
