"""The interactions feature: chat, reactions, Q&A, polls and product moments on the socket.

It owns the server side of those messages: per-connection rate limits, who may do what
(moderation is for hosts, see ``server.rooms.moderation``), what is broadcast to whom, the
state late joiners get, and one engagement event per interaction. The rules themselves
live in ``server.rooms`` (``chat``, ``reactions``, ``qa``, ``polls``, ``products``).

Handlers never await: each applies its change and queues its broadcasts in one step,
so no other message can see half of it. Bursty updates (reactions, poll results, click
counts) are coalesced per room and sent at most once per ``flush_interval``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from server.engagement.events import EventKind, now_ms
from server.ids import MemberId, ParticipantId
from server.rooms.activity import Limits, RoomActivity
from server.rooms.chat import Author
from server.rooms.click_store import Click, ClickStore
from server.rooms.errors import Forbidden, RateLimited
from server.rooms.model import Participant
from server.rooms.moderation import is_moderator
from server.rooms.products import Product
from server.rooms.qa import Question
from server.rooms.reactions import REACTIONS
from server.rooms.room import Room
from server.settings import InteractionSettings
from server.signaling import messages as m
from server.signaling import messages_interactions as mi
from server.signaling.coalesce import Coalescer
from server.signaling.context import SessionContext
from server.signaling.errors import code_for

logger = logging.getLogger(__name__)

# Which rate limit each message counts against (see ``InteractionSettings``).
LIMIT_OF: dict[type, str] = {
    mi.ChatSend: "chat",
    mi.ChatDelete: "moderation",
    mi.React: "reaction",
    mi.QuestionAsk: "question",
    mi.QuestionUpvote: "vote",
    mi.QuestionUnvote: "vote",
    mi.QuestionAnswer: "moderation",
    mi.QuestionPin: "moderation",
    mi.QuestionUnpin: "moderation",
    mi.QuestionDismiss: "moderation",
    mi.PollCreate: "moderation",
    mi.PollVote: "vote",
    mi.PollClose: "moderation",
    mi.ProductPin: "moderation",
    mi.ProductUnpin: "moderation",
    mi.ProductClick: "click",
}
REACTIONS_KEY = "reactions"


@dataclass(slots=True)
class _Live:
    activity: RoomActivity
    flusher: Coalescer


class Interactions:
    """Implements ``server.signaling.context.Feature``."""

    message_types: tuple[type, ...] = tuple(LIMIT_OF)

    def __init__(
        self,
        settings: InteractionSettings,
        clicks: ClickStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._limits = Limits.from_settings(settings)
        self._clicks = clicks
        self._clock = clock
        self._rooms: weakref.WeakKeyDictionary[Room, _Live] = weakref.WeakKeyDictionary()
        self._handlers: dict[type, Callable[[SessionContext, RoomActivity, Any], None]] = {
            mi.ChatSend: self._chat_send,
            mi.ChatDelete: self._chat_delete,
            mi.React: self._react,
            mi.QuestionAsk: self._ask,
            mi.QuestionUpvote: self._upvote,
            mi.QuestionUnvote: self._unvote,
            mi.QuestionAnswer: self._answer,
            mi.QuestionPin: self._pin,
            mi.QuestionUnpin: self._unpin,
            mi.QuestionDismiss: self._dismiss,
            mi.PollCreate: self._poll_create,
            mi.PollVote: self._poll_vote,
            mi.PollClose: self._poll_close,
            mi.ProductPin: self._product_pin,
            mi.ProductUnpin: self._product_unpin,
            mi.ProductClick: self._product_click,
        }

    # --- Feature ----------------------------------------------------------------------

    async def handle(self, ctx: SessionContext, message: Any) -> None:
        live = self._live(ctx.room)
        limit = self._limits[LIMIT_OF[type(message)]]
        room = ctx.room
        limiter = live.activity.limiter(ctx.me.participant_id, lambda p: room.get(p) is not None)
        try:
            limiter.check(limit, self._clock())
        except RateLimited as exc:
            logger.debug("room %s: %s hit the %s limit", room.room_id, ctx.me.member_id, exc.limit)
            code, _ = code_for(exc)
            reply = m.error(code, str(exc), message.ref)
            reply.update(limit=exc.limit, retry_after=round(exc.retry_after, 3))
            ctx.send(reply)
            return
        self._handlers[type(message)](ctx, live.activity, message)

    def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        activity = self._live(ctx.room).activity
        viewer = ctx.me.member_id
        moderator = is_moderator(self._me(ctx))
        pinned = activity.shelf.pinned
        state: dict[str, Any] = {
            "session": activity.session_id,
            "moderator": moderator,
            "reactions": list(REACTIONS),
            "limits": {
                "chat_max_length": self._settings.chat_max_length,
                "question_max_length": self._settings.question_max_length,
            },
            "chat": [message.to_json() for message in activity.chat.history()],
            "questions": [q.to_json(viewer) for q in activity.qa.ordered()],
            "polls": [poll.to_json(viewer) for poll in activity.polls.all()],
            "product": pinned.to_json() if pinned else None,
        }
        if moderator and pinned is not None:
            stats = activity.shelf.stats(pinned.product_id)
            state["product_stats"] = stats.to_json(pinned.product_id) if stats else None
        return {"interactions": state}

    # --- for the commerce API and tests ------------------------------------------------

    def session_of(self, room: Room) -> str | None:
        """The id of ``room``'s current session, if anyone has been in it."""
        live = self._rooms.get(room)
        return live.activity.session_id if live else None

    def session_for(self, room: Room) -> str:
        """The id of ``room``'s current session (starting one if need be)."""
        return self._live(room).activity.session_id

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    def purchase_made(
        self, room: Room, member_id: MemberId, product_id: str, details: dict[str, Any]
    ) -> str:
        """Tell the room's moderators about a purchase credited to this session."""
        live = self._live(room)
        live.activity.shelf.purchased(product_id)
        participant = room.current_of(member_id)
        payload = {
            "member_id": member_id,
            "name": participant.name if participant else member_id,
            "product_id": product_id,
            **details,
        }
        room.broadcast("purchase", payload, only=self._moderators(room))
        live.flusher.mark(("product", product_id))
        return live.activity.session_id

    async def close(self) -> None:
        """Stop pending timers and wait briefly for click-store writes (app shutdown)."""
        for live in list(self._rooms.values()):
            live.flusher.cancel()
        if self._clicks is not None:
            await self._clicks.close()

    # --- state ------------------------------------------------------------------------

    def _live(self, room: Room) -> _Live:
        live = self._rooms.get(room)
        if live is None:
            activity = RoomActivity(room.room_id, self._settings, now_ms())
            # The flusher must not hold the room: the weak map would never let it go.
            ref = weakref.ref(room)

            def flush(keys: list[Hashable]) -> None:
                target = ref()
                if target is not None:
                    self._flush(target, activity, keys)

            live = _Live(activity, Coalescer(self._settings.flush_interval, flush))
            self._rooms[room] = live
        return live

    def _flush(self, room: Room, activity: RoomActivity, keys: list[Hashable]) -> None:
        moderators: list[ParticipantId] | None = None
        for key in keys:
            if key == REACTIONS_KEY:
                counts = activity.reactions.drain()
                if counts:
                    room.broadcast("reactions", {"counts": counts})
            elif isinstance(key, tuple) and key[0] == "poll":
                poll = activity.polls.get(key[1])
                if poll is not None:
                    room.broadcast("poll_results", poll.results())
            elif isinstance(key, tuple) and key[0] == "product":
                stats = activity.shelf.stats(key[1])
                if stats is not None:
                    if moderators is None:
                        moderators = self._moderators(room)
                    room.broadcast("product_stats", stats.to_json(key[1]), only=moderators)

    @staticmethod
    def _moderators(room: Room) -> list[ParticipantId]:
        return [p.participant_id for p in room.participants if is_moderator(p)]

    @staticmethod
    def _me(ctx: SessionContext) -> Participant:
        """This connection's participant as the room has it now: the host may have
        changed its role (co-host, speaker) since it joined."""
        return ctx.room.get(ctx.me.participant_id) or ctx.me

    def _require_moderator(self, ctx: SessionContext, action: str) -> None:
        me = self._me(ctx)
        if not is_moderator(me):
            raise Forbidden(action, me.role.value)

    def _record(
        self, ctx: SessionContext, activity: RoomActivity, kind: EventKind, **data: Any
    ) -> None:
        ctx.service.record(
            kind,
            ctx.room,
            ctx.me.member_id,
            session=activity.session_id,
            role=self._me(ctx).role.value,
            **data,
        )

    # --- chat -------------------------------------------------------------------------

    def _chat_send(self, ctx: SessionContext, act: RoomActivity, msg: mi.ChatSend) -> None:
        message = act.chat.post(Author.of(self._me(ctx)), msg.text, now_ms())
        ctx.room.broadcast("chat", message.to_json())
        self._record(
            ctx,
            act,
            EventKind.CHAT,
            action="send",
            message_id=message.message_id,
            length=len(message.text),
        )

    def _chat_delete(self, ctx: SessionContext, act: RoomActivity, msg: mi.ChatDelete) -> None:
        self._require_moderator(ctx, "delete chat messages")
        message = act.chat.delete(msg.id)
        ctx.room.broadcast("chat_deleted", {"id": message.message_id})
        self._record(
            ctx,
            act,
            EventKind.CHAT,
            action="delete",
            message_id=message.message_id,
            author=message.author.member_id,
        )

    # --- reactions --------------------------------------------------------------------

    def _react(self, ctx: SessionContext, act: RoomActivity, msg: mi.React) -> None:
        act.reactions.add(msg.emoji)
        self._live(ctx.room).flusher.mark(REACTIONS_KEY)
        self._record(ctx, act, EventKind.REACTION, emoji=msg.emoji)

    # --- Q&A --------------------------------------------------------------------------

    def _ask(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionAsk) -> None:
        question = act.qa.ask(Author.of(self._me(ctx)), msg.text, now_ms())
        ctx.room.broadcast("question", {"question": question.to_json()})
        self._record(
            ctx,
            act,
            EventKind.QUESTION,
            action="ask",
            question_id=question.question_id,
            length=len(question.text),
        )

    def _vote(
        self, ctx: SessionContext, act: RoomActivity, question_id: str, ref: str | None, up: bool
    ) -> None:
        member = ctx.me.member_id
        question = act.qa.upvote(question_id, member) if up else act.qa.unvote(question_id, member)
        reply: dict[str, Any] = {
            "type": "question_voted",
            "id": question.question_id,
            "voted": up,
            "votes": question.votes,
        }
        if ref is not None:
            reply["ref"] = ref
        ctx.send(reply)
        ctx.room.broadcast("question_votes", {"id": question.question_id, "votes": question.votes})
        self._record(
            ctx,
            act,
            EventKind.UPVOTE,
            action="add" if up else "remove",
            question_id=question.question_id,
            author=question.author.member_id,
        )

    def _upvote(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionUpvote) -> None:
        self._vote(ctx, act, msg.id, msg.ref, up=True)

    def _unvote(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionUnvote) -> None:
        self._vote(ctx, act, msg.id, msg.ref, up=False)

    def _question_changed(
        self,
        ctx: SessionContext,
        act: RoomActivity,
        action: str,
        question_id: str,
        changed: Iterable[Question],
    ) -> None:
        for question in changed:
            ctx.room.broadcast("question", {"question": question.to_json()})
        self._record(ctx, act, EventKind.QUESTION, action=action, question_id=question_id)

    def _answer(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionAnswer) -> None:
        self._require_moderator(ctx, "mark questions answered")
        question = act.qa.answer(msg.id)
        self._question_changed(ctx, act, "answer", msg.id, [question])

    def _pin(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionPin) -> None:
        self._require_moderator(ctx, "pin questions")
        self._question_changed(ctx, act, "pin", msg.id, act.qa.pin(msg.id))

    def _unpin(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionUnpin) -> None:
        self._require_moderator(ctx, "unpin questions")
        question = act.qa.unpin(msg.id)
        self._question_changed(ctx, act, "unpin", msg.id, [question])

    def _dismiss(self, ctx: SessionContext, act: RoomActivity, msg: mi.QuestionDismiss) -> None:
        self._require_moderator(ctx, "dismiss questions")
        question = act.qa.dismiss(msg.id)
        ctx.room.broadcast("question_removed", {"id": question.question_id})
        self._record(
            ctx, act, EventKind.QUESTION, action="dismiss", question_id=question.question_id
        )

    # --- polls ------------------------------------------------------------------------

    def _poll_create(self, ctx: SessionContext, act: RoomActivity, msg: mi.PollCreate) -> None:
        self._require_moderator(ctx, "create polls")
        poll = act.polls.create(msg.question, msg.options, now_ms())
        ctx.room.broadcast("poll", {"poll": poll.to_json()})
        self._record(
            ctx,
            act,
            EventKind.POLL_VOTE,
            action="create",
            poll_id=poll.poll_id,
            options=len(poll.options),
        )

    def _poll_vote(self, ctx: SessionContext, act: RoomActivity, msg: mi.PollVote) -> None:
        poll, previous = act.polls.vote(msg.id, ctx.me.member_id, msg.option)
        reply: dict[str, Any] = {"type": "poll_voted", "id": poll.poll_id, "option": msg.option}
        if msg.ref is not None:
            reply["ref"] = msg.ref
        ctx.send(reply)
        if previous == msg.option:
            return  # the same vote again changes nothing
        self._live(ctx.room).flusher.mark(("poll", poll.poll_id))
        self._record(
            ctx,
            act,
            EventKind.POLL_VOTE,
            action="vote" if previous is None else "change",
            poll_id=poll.poll_id,
            option=msg.option,
            previous=previous,
        )

    def _poll_close(self, ctx: SessionContext, act: RoomActivity, msg: mi.PollClose) -> None:
        self._require_moderator(ctx, "close polls")
        poll = act.polls.close(msg.id)
        ctx.room.broadcast("poll", {"poll": poll.to_json()})
        self._record(
            ctx,
            act,
            EventKind.POLL_VOTE,
            action="close",
            poll_id=poll.poll_id,
            total=len(poll.votes),
            counts=poll.counts(),
        )

    # --- product moments --------------------------------------------------------------

    def _product_pin(self, ctx: SessionContext, act: RoomActivity, msg: mi.ProductPin) -> None:
        self._require_moderator(ctx, "pin products")
        product = Product(msg.id, msg.title, msg.price, msg.link, msg.image)
        act.shelf.pin(product)
        ctx.room.broadcast("product", {"product": product.to_json()})
        self._live(ctx.room).flusher.mark(("product", product.product_id))
        self._record(ctx, act, EventKind.PRODUCT_CLICK, action="pin", product_id=msg.id)

    def _product_unpin(self, ctx: SessionContext, act: RoomActivity, msg: mi.ProductUnpin) -> None:
        self._require_moderator(ctx, "unpin products")
        product = act.shelf.unpin()
        ctx.room.broadcast("product", {"product": None})
        self._record(
            ctx, act, EventKind.PRODUCT_CLICK, action="unpin", product_id=product.product_id
        )

    def _product_click(self, ctx: SessionContext, act: RoomActivity, msg: mi.ProductClick) -> None:
        act.shelf.click(msg.id, ctx.me.member_id)
        self._live(ctx.room).flusher.mark(("product", msg.id))
        self._record(ctx, act, EventKind.PRODUCT_CLICK, action="click", product_id=msg.id)
        click = Click(ctx.room.room_id, act.session_id, msg.id, now_ms())
        if self._clicks is not None:
            self._clicks.remember_soon(ctx.me.member_id, click)
