"""The rewards of live rooms: coupons, lucky draws and quizzes (``Rewards``), on top of
check-ins and points (``reward_points_service``) and their common ground (``reward_core``).

``Rewards`` joins the pure rules (``rewards``, ``draws``, ``quiz``) to their atomic
effects in Redis (``coupon_store``, ``room_rewards_store``) and records one engagement
event per action. Every Redis call is bounded by the read timeout; a Redis that cannot
answer refuses the action with ``RewardError('unavailable')`` and changes nothing in the
room. The socket feature (``server/signaling/rewards.py``) and the REST API
(``server/http/rewards.py``) call it; it sends nothing to anyone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from server.engagement.events import EventKind, now_ms
from server.rooms import draws, rewards
from server.rooms.coupon_store import Claim, Redemption
from server.rooms.model import Participant
from server.rooms.moderation import MODERATORS
from server.rooms.quiz import Quiz, QuizResult, make_quiz, results
from server.rooms.reward_core import new_id
from server.rooms.reward_errors import RewardError
from server.rooms.reward_live import Drop
from server.rooms.reward_points_service import PointsActions
from server.rooms.room import Room
from server.rooms.room_rewards_store import session_counter

logger = logging.getLogger(__name__)


class Rewards(PointsActions):
    """Coupons, lucky draws and quizzes (check-ins and points: ``PointsActions``)."""

    # --- coupons -----------------------------------------------------------------------

    async def drop(self, room: Room, actor: Participant, coupon_id: str, session: str) -> Drop:
        rewards.check(rewards.Action.DROP_COUPON, actor.role)
        live = self.live(room, session)
        if live.drop is not None:
            raise RewardError("drop_running", drop=live.drop.drop_id)
        spec = await self._io(self.coupons.get(coupon_id))
        if spec is None:
            raise RewardError("no_coupon", coupon=coupon_id)
        claimed = await self._io(self.coupons.claimed(coupon_id))
        if live.drop is not None:  # another drop won the race while we read
            raise RewardError("drop_running", drop=live.drop.drop_id)
        drop = Drop(new_id("d"), spec, session, max(0, spec.count - claimed))
        live.drop = drop  # held while it is written, so that no second drop starts
        info = {"room": room.room_id, "session": session, "at": now_ms(), "by": actor.member_id}
        record = {"id": drop.drop_id, "coupon": coupon_id, **info}
        try:
            await self._io(self.coupons.record_drop(coupon_id, drop.drop_id, info))
            await self._io(self.records.add_record(room.room_id, "drops", record))
            await self._count(room, session, drops=1)
        except RewardError:
            if live.drop is drop:
                live.drop = None  # nobody was told: the room is as it was
            raise
        self._by(
            EventKind.COUPON_DROP, room, actor, session=session, coupon=coupon_id, drop=drop.drop_id
        )
        return drop

    def end_drop(self, room: Room, actor: Participant) -> Drop:
        rewards.check(rewards.Action.END_DROP, actor.role)
        live = self.live(room)
        if live.drop is None:
            raise RewardError("no_drop", drop="")
        drop, live.drop = live.drop, None
        return drop

    async def claim(self, room: Room, actor: Participant, drop_id: str) -> tuple[Drop, Claim]:
        live = self.live(room)
        drop = live.drop
        if drop is None or drop.drop_id != drop_id:
            raise RewardError("no_drop", drop=drop_id)
        rewards.check_claim(drop.spec, actor.role, actor.tier, now_ms())
        if drop.remaining <= 0:
            # Redis said so already: stock only grows when an operator redefines the
            # coupon, and then the host drops it again. A rush's late clicks stop here.
            raise RewardError("sold_out", coupon=drop.spec.coupon_id)
        counter = session_counter(room.room_id, drop.session, "claims")
        try:
            got = await self._io(
                self.coupons.claim(drop.spec, actor.member_id, drop.drop_id, now_ms(), counter)
            )
        except RewardError as exc:
            if exc.code == "sold_out":
                drop.remaining = 0
            raise
        drop.remaining = min(drop.remaining, got.remaining)
        self._by(
            EventKind.COUPON_CLAIM,
            room,
            actor,
            session=drop.session,
            coupon=drop.spec.coupon_id,
            drop=drop.drop_id,
        )
        return drop, got

    async def grant(
        self, room: Room, member: str, coupon_id: str, source: str, session: str
    ) -> Claim | None:
        """A prize coupon for ``member`` (draw or quiz ``source``); None when none is left."""
        spec = await self._io(self.coupons.get(coupon_id))
        if spec is None:
            return None
        # The draw or quiz is the prize's "drop": its claims and redemptions count there.
        info = {"room": room.room_id, "session": session, "at": now_ms(), "by": "prize"}
        await self._io(self.coupons.record_drop(coupon_id, source, info))
        try:
            got = await self._io(self.coupons.claim(spec, member, source, now_ms(), prize=True))
        except RewardError as exc:
            logger.info("room %s: no prize coupon for %s: %s", room.room_id, member, exc.code)
            return None
        self.event(
            EventKind.COUPON_CLAIM,
            room.room_id,
            member,
            session=session,
            coupon=coupon_id,
            drop=source,
            prize=True,
        )
        return got

    async def redeem(self, member: str, code: str, order_id: str) -> Redemption:
        """A purchase used ``code``: redeem it, count it for its drop's session."""
        done = await self._io(self.coupons.redeem(code, member, order_id, now_ms()))
        if done.repeat:
            return done
        figures = await self._io(self.coupons.figures(done.coupon_id))
        drops: list[dict[str, Any]] = (figures or {}).get("drops", [])
        drop = next((d for d in drops if d["id"] == done.drop_id), {})
        room, session = str(drop.get("room", "")), str(drop.get("session", ""))
        if room and session:
            minor = round(float(done.value) * 100)
            await self._io(self.records.count(f"{room}:{session}", redemptions=1, discount=minor))
        self.event(
            EventKind.COUPON_REDEEM,
            room,
            member,
            session=session,
            coupon=done.coupon_id,
            drop=done.drop_id,
            order_id=order_id,
            value=done.value,
        )
        return done

    # --- lucky draws -------------------------------------------------------------------

    async def run_draw(
        self, room: Room, actor: Participant, request: draws.DrawRequest, session: str
    ) -> dict[str, Any]:
        rewards.check(rewards.Action.RUN_DRAW, actor.role)
        draws.check_request(request)
        if request.coupon is not None and await self._io(self.coupons.get(request.coupon)) is None:
            raise RewardError("no_coupon", coupon=request.coupon)
        live = self.live(room, session)
        present = [p for p in room.participants if p.role not in MODERATORS]
        activity = live.activity(present, asyncio.get_running_loop().time())
        entrants = draws.eligible(request.condition, request.minutes, activity)
        if not entrants:
            raise RewardError("nobody_eligible", condition=request.describe())
        seed = secrets.token_hex(16)
        weights = draws.TIER_WEIGHTS if request.weighted else None
        winners = draws.draw(entrants, request.winners, seed, weights)
        draw_id = new_id("w")
        record = draws.audit_record(draw_id, request, entrants, seed, winners, now_ms())
        record.update(session=session, by=actor.member_id)
        await self._io(self.records.add_record(room.room_id, "draws", record))
        await self._count(
            room, session, draws=1, draw_entrants=len(entrants), draw_winners=len(winners)
        )
        self._by(
            EventKind.DRAW,
            room,
            actor,
            session=session,
            draw=draw_id,
            condition=request.condition.value,
            eligible=len(entrants),
            winners=len(winners),
        )
        for member in winners:
            self.event(EventKind.DRAW_WIN, room.room_id, member, session=session, draw=draw_id)
        return record

    # --- quizzes -----------------------------------------------------------------------

    async def ask_quiz(self, room: Room, actor: Participant, session: str, **fields: Any) -> Quiz:
        rewards.check(rewards.Action.ASK_QUIZ, actor.role)
        live = self.live(room, session)
        if live.quiz is not None:
            raise RewardError("quiz_running")
        quiz = make_quiz(new_id("q"), now_ms=now_ms(), **fields)
        if quiz.coupon is not None and await self._io(self.coupons.get(quiz.coupon)) is None:
            raise RewardError("no_coupon", coupon=quiz.coupon)
        if live.quiz is not None:
            raise RewardError("quiz_running")
        live.quiz = quiz
        try:
            await self._io(self.records.open_quiz(room.room_id, quiz.quiz_id, quiz.deadline_ms))
        except RewardError:
            live.quiz = None
            raise
        await self._count(room, session, quizzes=1)
        self._by(
            EventKind.QUIZ,
            room,
            actor,
            session=session,
            quiz=quiz.quiz_id,
            seconds=round((quiz.deadline_ms - quiz.opened_ms) / 1000),
        )
        return quiz

    async def answer(self, room: Room, actor: Participant, quiz_id: str, option: int) -> Quiz:
        if actor.role in MODERATORS:
            raise RewardError("staff", action="answer_quiz")
        rewards.check(rewards.Action.ANSWER_QUIZ, actor.role)
        live = self.live(room)
        quiz = live.quiz
        if quiz is None or quiz.quiz_id != quiz_id:
            raise RewardError("no_quiz", quiz=quiz_id)
        at = now_ms()
        quiz.check_answer(option, at)
        await self._io(self.records.answer(room.room_id, quiz_id, actor.member_id, option, at))
        self._by(
            EventKind.QUIZ_ANSWER,
            room,
            actor,
            session=live.session,
            quiz=quiz_id,
            option=option,
            correct=option == quiz.correct,
        )
        return quiz

    async def close_quiz(self, room: Room, quiz: Quiz) -> tuple[QuizResult, dict[str, Any]]:
        """Count the answers and give the prizes: (result, member -> their prize)."""
        live = self.live(room)
        session = live.session
        if live.quiz is quiz:
            live.quiz = None
        answers = await self._io(self.records.answers(room.room_id, quiz.quiz_id))
        result = results(quiz, answers)
        prizes: dict[str, Any] = {}
        where = f"{room.room_id}:{quiz.quiz_id}"
        for member in answers:
            await self._award(
                member, f"quizans:{where}", self.rules.quiz_answer, "quiz answer", room, session
            )
        for member in result.correct_members:
            if quiz.coupon:
                got = await self.grant(room, member, quiz.coupon, f"quiz:{quiz.quiz_id}", session)
                prizes[member] = {"code": got.code} if got else {"sold_out": True}
            else:
                await self._award(
                    member, f"quiz:{where}", result.share, "quiz prize", room, session
                )
                prizes[member] = {"points": result.share}
        record = {**result.public_json(quiz), "at_ms": quiz.deadline_ms, "session": session}
        await self._io(self.records.add_record(room.room_id, "quizzes", record))
        await self._count(
            room, session, quiz_answers=result.answered, quiz_correct=len(result.correct_members)
        )
        return result, prizes
