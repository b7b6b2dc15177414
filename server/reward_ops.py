"""The operator's rewards operations, shared by the REST API and the CLI.

Define coupons and points rewards; read coupon claims and redemptions per drop, a room's
drops, draws (with their audit, checked again) and quizzes, a member's points, the
totals, and a room session's reward figures with the campaign's ROI counting the
coupons' discounts as a cost. Refusals are ``RewardError`` (or ``TextError`` for text);
the edges render them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from server.ids import is_valid_id
from server.rooms import draws
from server.rooms.coupon_store import CouponStore
from server.rooms.points_store import PointsStore
from server.rooms.reward_errors import RewardError
from server.rooms.rewards import CouponSpec, normal_code, parse_coupon
from server.rooms.room_rewards_store import RoomRewardsStore
from server.text import clean_label

MAX_COST = 10_000_000


def check_id(value: Any, field: str) -> str:
    if not is_valid_id(value):
        raise RewardError(
            "invalid", field=field, rule="must be an id (letters, digits, '.', '_', '-')"
        )
    return str(value)


async def put_coupon(store: CouponStore, coupon_id: str, data: dict[str, Any]) -> CouponSpec:
    spec = parse_coupon(coupon_id, data)
    await store.put(spec)
    return spec


async def coupons(store: CouponStore) -> list[dict[str, Any]]:
    ids = await store.ids()
    found = await asyncio.gather(*(store.figures(i) for i in ids))
    return [f for f in found if f is not None]


async def coupon(store: CouponStore, coupon_id: str) -> dict[str, Any]:
    found = await store.figures(check_id(coupon_id, "coupon"))
    if found is None:
        raise RewardError("no_coupon", coupon=coupon_id)
    return found


async def put_reward(
    points: PointsStore, coupons_: CouponStore, reward_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A catalog entry: ``title``, ``cost`` (points) and the ``coupon`` it gives."""
    check_id(reward_id, "reward")
    unknown = sorted(set(data) - {"title", "cost", "coupon"})
    if unknown:
        raise RewardError("invalid", field=unknown[0][:40], rule="is not a reward field")
    title = clean_label(data.get("title"), "title", 80)
    cost = data.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int) or not 1 <= cost <= MAX_COST:
        raise RewardError(
            "invalid", field="cost", rule=f"must be a whole number from 1 to {MAX_COST}"
        )
    coupon_id = check_id(data.get("coupon"), "coupon")
    if await coupons_.get(coupon_id) is None:
        raise RewardError("no_coupon", coupon=coupon_id)
    reward = {"title": title, "cost": cost, "coupon": coupon_id}
    await points.put_reward(reward_id, reward)
    return {"id": reward_id, **reward}


async def room_rewards(records: RoomRewardsStore, room_id: str, limit: int = 50) -> dict[str, Any]:
    """A room's drops, draws (each audit checked again: ``verified``) and quizzes."""
    check_id(room_id, "room")
    drops, draw_list, quizzes = await asyncio.gather(
        records.records(room_id, "drops", limit),
        records.records(room_id, "draws", limit),
        records.records(room_id, "quizzes", limit),
    )
    for record in draw_list:
        record["verified"] = draws.verify(record)
    return {"room_id": room_id, "drops": drops, "draws": draw_list, "quizzes": quizzes}


async def member_points(points: PointsStore, member_id: str) -> dict[str, Any]:
    return await points.account(check_id(member_id, "member"))


async def totals(points: PointsStore, store: CouponStore) -> dict[str, Any]:
    all_coupons = await coupons(store)
    return {
        **await points.totals(),
        "coupons": len(all_coupons),
        "claimed": sum(c["claimed"] for c in all_coupons),
        "redeemed": sum(c["redeemed"] for c in all_coupons),
    }


async def session_rewards(records: RoomRewardsStore, session: str) -> dict[str, Any]:
    return await records.session_figures(session)


def roi_with_rewards(campaign: dict[str, Any], rewards: dict[str, Any]) -> float | None:
    """ROI counting the coupons redeemed as a cost: (revenue - cost - discounts) /
    (cost + discounts); None when nothing was spent."""
    revenue = Decimal(str(campaign.get("revenue") or "0"))
    spent = Decimal(str(campaign.get("cost") or "0")) + Decimal(rewards["discount"])
    if spent <= 0:
        return None
    return round(float((revenue - spent) / spent), 4)


def purchase_coupon(value: Any) -> str:
    """The ``coupon`` field of a reported purchase, normalised, or ``RewardError``."""
    return normal_code(value)
