"""The rewards feature on the socket: coupon drops and claims, lucky draws, quizzes,
check-ins and points (messages in ``messages_rewards``; docs/protocol.md, "Rewards").

It finds the room and the person a message concerns, lets ``server.rooms.reward_service``
decide and apply it (rules pure, effects atomic in Redis, one event per action), and
tells people what changed. A refusal is an ``error`` with the ``RewardError``'s code and
its sentence (``server/error_text.py``), and changes nothing.

What it sends: ``coupon_drop`` (to each member with their own eligibility and, if not
eligible, why), ``coupon_stock`` (coalesced), ``coupon_end``, ``coupon_claimed`` (to the
claimer), ``draw_result`` (to everyone) and ``draw_won`` (to each winner), ``quiz``,
``quiz_answered`` (to the answerer), ``quiz_result`` (to everyone at once, after the
countdown) and ``quiz_you`` (each answerer's outcome), ``checkin_done`` and
``rewards_self`` (to the member). It owns the quiz countdown tasks and cancels them at
shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Hashable
from typing import Any, assert_never

from server import outbound as out
from server.error_text import sentence
from server.ids import MemberId
from server.rooms import draws
from server.rooms.clock import now_ms
from server.rooms.coalesce import Coalescer
from server.rooms.model import Participant
from server.rooms.moderation import MODERATORS
from server.rooms.quiz import Quiz
from server.rooms.reward_errors import RewardError
from server.rooms.reward_live import Drop
from server.rooms.reward_service import Rewards
from server.rooms.rewards import eligibility
from server.rooms.room import Room
from server.rooms.service import RoomService
from server.signaling import messages_rewards as mr
from server.signaling.context import SessionContext
from server.signaling.errors import error_message

logger = logging.getLogger(__name__)

STOCK_INTERVAL = 0.25  # seconds between stock updates while claims pour in


class RewardsFeature:
    """Implements ``server.signaling.context.Feature``."""

    message_types: tuple[type, ...] = mr.MESSAGE_TYPES

    def __init__(self, service: RoomService, rewards: Rewards) -> None:
        self._service = service
        self._rewards = rewards
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._stock: weakref.WeakKeyDictionary[Room, Coalescer] = weakref.WeakKeyDictionary()
        service.leave_hooks.append(self._left)
        service.record_hooks.append(self._recorded)

    # --- Feature ---------------------------------------------------------------------

    async def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        live = self._rewards.live(ctx.room, self._session(ctx.room))
        live.met(ctx.me)
        now = now_ms()
        return {
            "rewards": {
                "drop": self._drop_for(live.drop, ctx.me) if live.drop else None,
                "quiz": live.quiz.public_json(now) if live.quiz else None,
            }
        }

    async def handle(self, ctx: SessionContext, message: mr.RewardMessage) -> None:
        me = ctx.current()
        try:
            await self._handle(ctx, me, message)
        except RewardError as exc:
            ctx.send(error_message(exc, message.ref))

    async def _handle(
        self, ctx: SessionContext, me: Participant, message: mr.RewardMessage
    ) -> None:
        """Apply ``message``; the reply to the sender (if any) is returned by the step."""
        room, rewards = ctx.room, self._rewards
        reply: dict[str, Any] | None = None
        match message:
            case mr.CouponDrop():
                drop = await rewards.drop(room, me, message.coupon, self._session(room))
                self._announce(room, drop)
            case mr.CouponEnd():
                room.broadcast(*out.coupon_end(rewards.end_drop(room, me).drop_id))
            case mr.CouponClaim():
                reply = await self._claim(room, me, message.drop)
            case mr.DrawRun():
                await self._draw(ctx, me, message)
            case mr.QuizAsk():
                await self._ask(ctx, me, message)
            case mr.QuizAnswer():
                await rewards.answer(room, me, message.quiz, message.option)
                reply = out.quiz_answered(message.quiz, message.option).to_json()
            case mr.CheckIn():
                done = await rewards.check_in(me, room)
                reply = out.checkin_done(done.streak, done.points, done.balance).to_json()
            case mr.PointsRedeem():
                redeemed = await rewards.redeem_points(me, message.reward, room)
                reply = out.points_redeemed(redeemed).to_json()
            case mr.RewardsMe():
                reply = out.rewards_self(await rewards.state_of(me.member_id)).to_json()
            case _:
                assert_never(message)
        if reply is not None:
            ctx.send({**reply, "ref": message.ref} if message.ref else reply)

    # --- coupons -----------------------------------------------------------------------

    def _drop_for(self, drop: Drop, who: Participant) -> dict[str, Any]:
        why = eligibility(drop.spec, who.role, who.tier, now_ms())
        return {
            **drop.public_json(),
            "eligible": why is None,
            "why": None if why is None else sentence(why),
            "why_code": None if why is None else why.code,
            "why_params": None if why is None else why.params,
        }

    async def _claim(self, room: Room, me: Participant, drop_id: str) -> dict[str, Any]:
        drop, got = await self._rewards.claim(room, me, drop_id)
        self._stock_changed(room)
        claim = {
            "drop": drop.drop_id,
            "code": got.code,
            "title": drop.spec.title,
            "value": drop.spec.value,
        }
        return out.coupon_claimed(claim).to_json()

    def _announce(self, room: Room, drop: Drop) -> None:
        # One message per kind of viewer (role and tier): a handful of encodings, not one
        # per person.
        groups: dict[tuple[bool, str], list[Participant]] = {}
        for p in room.participants:
            key = (p.role in MODERATORS, p.tier.value if p.tier else "")
            groups.setdefault(key, []).append(p)
        for people in groups.values():
            payload = self._drop_for(drop, people[0])
            room.broadcast(*out.coupon_drop(payload), only=[p.participant_id for p in people])

    def _stock_changed(self, room: Room) -> None:
        coalescer = self._stock.get(room)
        if coalescer is None:
            ref = weakref.ref(room)

            def flush(keys: list[Hashable]) -> None:
                target = ref()
                drop = self._rewards.live(target).drop if target else None
                if target is not None and drop is not None:
                    target.broadcast(*out.coupon_stock(drop.drop_id, drop.remaining))

            coalescer = self._stock[room] = Coalescer(STOCK_INTERVAL, flush)
        coalescer.mark("stock")

    # --- draws and quizzes -----------------------------------------------------------

    async def _draw(self, ctx: SessionContext, me: Participant, message: mr.DrawRun) -> None:
        room = ctx.room
        request = draws.DrawRequest(
            draws.Condition(message.condition),
            message.minutes,
            message.winners,
            message.weighted,
            message.coupon,
            message.note,
        )
        record = await self._rewards.run_draw(room, me, request, self._session(room))
        names = {p.member_id: p.name for p in room.participants}
        winners = [{"member_id": w, "name": names.get(w, w)} for w in record["winners"]]
        result = {
            "id": record["id"],
            "condition": request.describe(),
            "eligible": len(record["eligible"]),
            "winners": winners,
            "seed": record["seed"],
            "note": message.note,
        }
        room.broadcast(*out.draw_result(result))
        for member in record["winners"]:
            prize: dict[str, Any] = {"note": message.note}
            if message.coupon:
                got = await self._rewards.grant(
                    room, member, message.coupon, record["id"], self._session(room)
                )
                prize.update(code=got.code if got else None, sold_out=got is None)
            self._tell_member(
                room, member, out.to_member("draw_won", {"id": record["id"], **prize})
            )

    async def _ask(self, ctx: SessionContext, me: Participant, message: mr.QuizAsk) -> None:
        room = ctx.room
        quiz = await self._rewards.ask_quiz(
            room,
            me,
            self._session(room),
            question=message.question,
            options=message.options,
            correct=message.correct,
            seconds=message.seconds,
            coupon=message.coupon,
            points=message.points,
        )
        room.broadcast(*out.quiz(quiz.public_json(now_ms())))
        task = asyncio.create_task(self._countdown(room, quiz), name=f"quiz-{quiz.quiz_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _countdown(self, room: Room, quiz: Quiz) -> None:
        await asyncio.sleep(max(0.0, (quiz.deadline_ms - now_ms()) / 1000))
        try:
            result, prizes = await self._rewards.close_quiz(room, quiz)
        except RewardError as exc:
            logger.warning(
                "room %s: quiz %s could not close: %s", room.room_id, quiz.quiz_id, exc.code
            )
            room.broadcast(*out.quiz_failed(quiz.quiz_id, sentence(exc), exc.code, exc.params))
            return
        except Exception:
            logger.exception("room %s: quiz %s failed to close", room.room_id, quiz.quiz_id)
            return
        room.broadcast(*out.quiz_result(result.public_json(quiz)))
        for member, prize in prizes.items():
            self._tell_member(
                room,
                member,
                out.to_member("quiz_you", {"id": quiz.quiz_id, "correct": True, **prize}),
            )

    # --- hooks -----------------------------------------------------------------------------

    def _recorded(self, kind: Any, room: Room, member: str, data: dict[str, Any]) -> None:
        self._rewards.live(room).saw(kind, member, data)

    def _left(self, room: Room, participant: Participant) -> None:
        if self._closed:
            return  # shutting down: sockets closing now are not members leaving
        seconds = max(0.0, time.monotonic() - participant.joined_at)
        task = asyncio.ensure_future(self._attended(room, participant, seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attended(self, room: Room, participant: Participant, seconds: float) -> None:
        try:
            await self._rewards.attended(room, participant, seconds)
        except RewardError as exc:
            logger.warning(
                "room %s: attendance of %s not counted: %s",
                room.room_id,
                participant.member_id,
                exc.code,
            )

    # --- helpers -----------------------------------------------------------------------------

    def _session(self, room: Room) -> str:
        return room.session_id

    @staticmethod
    def _tell_member(room: Room, member: str, message: out.Outbound) -> None:
        who = room.current_of(MemberId(member))
        if who is not None:
            room.broadcast(*message, only=[who.participant_id])

    async def close(self) -> None:
        self._closed = True
        for coalescer in list(self._stock.values()):
            coalescer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
