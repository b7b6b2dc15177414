"""The stage feature: hands, invitations, speakers, mutes, co-host, removal and bans.

It owns the server side of the stage messages (``messages_stage``): it finds the people
a message names, lets ``server.rooms.stage`` decide (every permission rule lives there),
applies the outcome to the room (roles, media mutes, stopping a publication), tells
everyone what changed, and records one engagement event per action. A refused message
gets an error and changes nothing.

What it sends (docs/protocol.md, "Stage"): ``role`` (from the room), ``stage`` to
everyone, ``hands`` to the host and co-host, ``stage_self`` to the one it concerns,
``unmute_request`` to a muted speaker. ``tracks`` and ``speaking`` come from the media
side (``RoomService._open``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, assert_never

from server import outbound as out
from server.ids import ParticipantId
from server.rooms import stage_events
from server.rooms.errors import NoSuchParticipant, Removed
from server.rooms.model import Participant
from server.rooms.moderation import MODERATORS, moderators
from server.rooms.room import Room
from server.rooms.service import RoomService
from server.rooms.stage import ON_STAGE, Action, Outcome, check
from server.signaling import messages_stage as ms
from server.signaling.context import SessionContext

logger = logging.getLogger(__name__)


def stage_json(room: Room) -> dict[str, Any]:
    stage = room.stage
    return {
        "speakers": list(stage.seated),
        "cohost": stage.cohost,
        # Only those who may publish (hosts, co-hosts, speakers: the roster's featured) are
        # ever muted: no pass over a room of a thousand for every join.
        "muted": [
            p.participant_id for p in room.roster.featured() if stage.is_muted(p.participant_id)
        ],
        "cap": room.spec.speaker_cap,
        "cameras": room.spec.speaker_cameras,
    }


def hands_json(room: Room) -> dict[str, Any]:
    queue = []
    for hand in room.stage.hands:
        who = room.get(hand.participant_id)
        if who is not None:
            queue.append(
                {
                    "participant": who.to_json(),
                    "score": None if hand.score is None else round(hand.score, 1),
                }
            )
    return {"queue": queue, "invited": list(room.stage.invited)}


def self_json(room: Room, participant: ParticipantId) -> dict[str, Any]:
    stage = room.stage
    return {
        "hand": stage.hand_raised(participant),
        "invited": stage.is_invited(participant),
        "muted": stage.is_muted(participant),
    }


class StageFeature:
    """Implements ``server.signaling.context.Feature``."""

    message_types: tuple[type, ...] = ms.MESSAGE_TYPES

    def __init__(self, service: RoomService) -> None:
        self._service = service
        service.leave_hooks.append(self._left)
        service.resume_hooks.append(self._resumed)

    # --- Feature ------------------------------------------------------------------------

    async def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        room, me = ctx.room, ctx.me
        state: dict[str, Any] = {
            "stage": stage_json(room),
            "stage_self": self_json(room, me.participant_id),
            "tracks": room.media.tracks_json(),
        }
        if me.role in MODERATORS:
            state["hands"] = hands_json(room)
        return state

    async def handle(self, ctx: SessionContext, message: ms.StageMessage) -> None:
        room = ctx.room
        me = self._me(ctx)
        stage = room.stage
        now = time.monotonic()
        match message:
            case ms.HandRaise():
                await self._raise_hand(ctx)
                return
            case ms.HandLower():
                outcome = stage.lower_hand(me)
            case ms.StageReply():
                outcome = stage.reply(me, message.accept, room.spec.speaker_cap, now)
                stage_events.replied(ctx.service, room, me, message.accept)
            case ms.StageLeave():
                outcome = stage.leave_stage(me, now)
            case ms.Remove():
                await self._remove(ctx, self._target(room, message.participant), message.ban)
                return
            case (
                ms.StageInvite()
                | ms.HandDismiss()
                | ms.StageMoveOff()
                | ms.Mute()
                | ms.Unmute()
                | ms.AskUnmute()
                | ms.MakeCohost()
            ):
                target = self._target(room, message.participant)
                outcome = self._moderate(ctx, me, target, message, now)
            case _:
                assert_never(message)
        await self._apply(ctx, outcome)

    def _moderate(
        self,
        ctx: SessionContext,
        me: Participant,
        target: Participant,
        message: ms.StageInvite
        | ms.HandDismiss
        | ms.StageMoveOff
        | ms.Mute
        | ms.Unmute
        | ms.AskUnmute
        | ms.MakeCohost,
        now: float,
    ) -> Outcome:
        stage, cap = ctx.room.stage, ctx.room.spec.speaker_cap
        match message:
            case ms.StageInvite():
                outcome = stage.invite(me, target, cap)
                stage_events.invited(
                    ctx.service,
                    ctx.room,
                    target,
                    me.member_id,
                    hand_raised=stage.hand_raised(target.participant_id),
                )
                ctx.room.broadcast(
                    *out.stage_self(self_json(ctx.room, target.participant_id), by=me.to_json()),
                    only=[target.participant_id],
                )
                return outcome
            case ms.HandDismiss():
                outcome = stage.dismiss(me, target)
                self._tell_self(ctx.room, target.participant_id)
                return outcome
            case ms.StageMoveOff():
                return stage.move_off(me, target, now)
            case ms.Mute():
                outcome = stage.mute(me, target)
                if outcome.mutes:
                    stage_events.muted(
                        ctx.service,
                        ctx.room,
                        target,
                        me.member_id,
                        muted=True,
                        self_mute=me.participant_id == target.participant_id,
                    )
                return outcome
            case ms.Unmute():
                outcome = stage.unmute(me, target)
                if outcome.mutes:
                    stage_events.muted(
                        ctx.service, ctx.room, target, me.member_id, muted=False, self_mute=True
                    )
                return outcome
            case ms.AskUnmute():
                outcome = stage.ask_unmute(me, target)
                ctx.room.broadcast(*out.unmute_request(me.to_json()), only=[target.participant_id])
                return outcome
            case ms.MakeCohost():
                return stage.make_cohost(me, target, cap, now)
            case _:
                assert_never(message)

    # --- actions that wait on Redis -----------------------------------------------------

    async def _raise_hand(self, ctx: SessionContext) -> None:
        room, me = ctx.room, self._me(ctx)
        if room.stage.hand_raised(me.participant_id):
            self._tell_self(room, me.participant_id)
            return
        check(Action.RAISE_HAND, me.role)  # refuse before reading anything
        score = await ctx.service.member_score(me.member_id)
        me = self._me(ctx)  # the role may have changed while we read
        if room.get(me.participant_id) is None:
            return
        outcome = room.stage.raise_hand(me, time.monotonic(), score)
        stage_events.hand_raised(ctx.service, room, me)
        await self._apply(ctx, outcome)

    async def _remove(self, ctx: SessionContext, target: Participant, ban: bool) -> None:
        room, me = ctx.room, self._me(ctx)
        room.stage.check_remove(me, target, ban)
        # Written first: if Redis cannot take the ban (or the session's removal), nobody
        # is removed.
        if ban:
            await ctx.service.ban(room, target.member_id)
        else:
            await ctx.service.remember_removal(room, target.member_id)
        stage_events.removed(ctx.service, room, target, me.member_id, ban)
        current = room.get(target.participant_id)
        if current is not None:
            ctx.service.expel(room, current, Removed(me.name, ban))
        logger.info(
            "room %s: %s removed %s%s",
            room.spec.room_id,
            me.member_id,
            target.member_id,
            " and banned them" if ban else "",
        )

    # --- applying and telling -----------------------------------------------------------

    async def _apply(self, ctx: SessionContext, outcome: Outcome) -> None:
        room = ctx.room
        off_stage: list[ParticipantId] = []
        seated: dict[ParticipantId, Participant] = {}
        for pid, role in outcome.roles:
            before = room.get(pid)
            room.set_role(pid, role)
            if before is not None:
                await room.session.set_stage_role(before.member_id, role)
            if before is not None and before.role in ON_STAGE and role not in ON_STAGE:
                off_stage.append(pid)
                seated[pid] = before
        for pid, muted in outcome.mutes:
            room.media.set_muted(pid, muted)
        for pid, seconds in outcome.stage_time:
            self._stage_time(room, pid, seconds, seated.get(pid))
        for pid in off_stage:
            room.media.set_muted(pid, False)
        self._publish(room)
        for pid in {ctx.me.participant_id, *(p for p, _ in outcome.roles)}:
            self._tell_self(room, pid)
        # Leaving the stage ends the publication: subscribers' slots go inactive.
        for pid in off_stage:
            await room.media.stop(pid, "pub")

    def _left(self, room: Room, participant: Participant) -> None:
        if not room.stage.knows(participant.participant_id):
            # A listener leaving changes nothing on stage: telling a thousand people so
            # would cost a thousand messages per leave.
            return
        outcome = room.stage.forget(participant.participant_id, time.monotonic())
        for pid, seconds in outcome.stage_time:
            self._stage_time(room, pid, seconds, participant)
        self._publish(room)

    def _resumed(self, room: Room, participant: Participant) -> None:
        """A page came back to its seat (server/rooms/resume.py): everyone sees the stage."""
        del participant  # seated already; its own ``stage_self`` comes in ``joined``
        self._publish(room)

    def _stage_time(
        self, room: Room, pid: ParticipantId, seconds: float, who: Participant | None = None
    ) -> None:
        """Record time on stage (strong engagement) when a seat ends, however it ends."""
        person = who or room.get(pid)
        if person is not None:
            stage_events.stage_time(self._service, room, person, seconds)

    def _publish(self, room: Room) -> None:
        room.broadcast(*out.stage(stage_json(room)))
        room.broadcast(*out.hands(hands_json(room)), only=moderators(room.participants))

    @staticmethod
    def _tell_self(room: Room, pid: ParticipantId) -> None:
        room.broadcast(*out.stage_self(self_json(room, pid)), only=[pid])

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _me(ctx: SessionContext) -> Participant:
        """This connection's participant as the room has it now (roles change)."""
        return ctx.current()

    @staticmethod
    def _target(room: Room, participant: str) -> Participant:
        target = room.get(ParticipantId(participant))
        if target is None:
            raise NoSuchParticipant(participant)
        return target
