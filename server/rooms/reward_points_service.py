"""Check-ins and reward points in rooms: check in, redeem points for a coupon, earn
points for attending and for purchases, and a member's own view of it all.

The ledger's rules are in ``server.engagement.reward_points`` and its atomic changes in
``server.rooms.points_store``; this is what a room (or a reported purchase) does with
them, one event per change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.engagement.events import EventKind, now_ms
from server.engagement.reward_points import day_number
from server.rooms import rewards
from server.rooms.model import Participant
from server.rooms.moderation import MODERATORS
from server.rooms.points_store import CheckIn
from server.rooms.reward_core import RewardsCore, new_id
from server.rooms.reward_errors import RewardError
from server.rooms.room import Room


class PointsActions(RewardsCore):
    async def check_in(self, actor: Participant, room: Room | None = None) -> CheckIn:
        rewards.check(rewards.Action.CHECK_IN, actor.role)
        now = now_ms()
        done = await self._io(
            self.points.check_in(actor.member_id, day_number(now), self.rules, now)
        )
        session = self.live(room).session if room else ""
        if room is not None:
            await self._count(room, session, checkins=1, points_issued=done.points)
        self.event(
            EventKind.CHECKIN,
            room.room_id if room else "",
            actor.member_id,
            role=actor.role.value,
            session=session,
            streak=done.streak,
            points=done.points,
        )
        return done

    async def redeem_points(self, actor: Participant, reward_id: str, room: Room) -> dict[str, Any]:
        """Spend points on a catalog reward; the coupon it gives, or ``RewardError``.

        Two slots (the member's ledger, the coupon's stock) cannot share a script on
        Redis Cluster: the points are taken first (exactly once for this redemption's
        id), and given back (exactly once) if the coupon cannot be claimed.
        """
        rewards.check(rewards.Action.REDEEM_POINTS, actor.role)
        reward = await self._io(self.points.reward(reward_id))
        if reward is None:
            raise RewardError("no_reward", reward=reward_id)
        spec = await self._io(self.coupons.get(reward["coupon"]))
        if spec is None:
            raise RewardError("no_coupon", coupon=reward["coupon"])
        redemption = new_id("r")
        member, cost, now = actor.member_id, int(reward["cost"]), now_ms()
        _, balance = await self._io(
            self.points.spend(member, f"redeem:{redemption}", cost, f"reward {reward_id}", now)
        )
        try:
            got = await self._io(self.coupons.claim(spec, member, f"points:{reward_id}", now))
        except RewardError:
            await self._io(
                self.points.award(member, f"refund:{redemption}", cost, f"refund {reward_id}", now)
            )
            raise
        self.event(
            EventKind.POINTS,
            room.room_id,
            member,
            role=actor.role.value,
            change=f"redeem:{redemption}",
            points=-cost,
            reward=reward_id,
        )
        return {"reward": reward, "code": got.code, "balance": balance}

    async def attended(self, room: Room, participant: Participant, seconds: float) -> None:
        """A member left: their stays this session may now earn the attendance points."""
        live = self.live(room)
        total = live.left(participant, seconds)
        if participant.role in MODERATORS or not live.session:
            return
        if total >= self.rules.attendance_minutes * 60:
            change = f"attend:{room.room_id}:{live.session}"
            await self._award(
                participant.member_id,
                change,
                self.rules.attendance,
                "attendance",
                room,
                live.session,
            )

    async def state_of(self, member: str) -> dict[str, Any]:
        """A member's balance, streak, whether they checked in today, and the catalog."""
        points, today = self.points, day_number(now_ms())
        balance, (streak, done), catalog = await self._io(
            asyncio.gather(points.balance(member), points.streak(member, today), points.rewards())
        )
        return {"balance": balance, "streak": streak, "checked_in": done, "catalog": catalog}

    async def purchase_points(self, member: str, order_id: str, amount: str, currency: str) -> int:
        if currency != self.currency:
            return 0
        points = self.rules.purchase_points(amount)
        applied, _ = await self._io(
            self.points.award(member, f"order:{order_id}", points, "purchase", now_ms())
        )
        if applied:
            self.event(EventKind.POINTS, "", member, change=f"order:{order_id}", points=points)
        return points if applied else 0
