"""One function per interaction message: what it changes in the room's session state,
what it broadcasts and to whom, and the engagement event it records.

``server/signaling/interactions.py`` (the feature) checks the rate limit and hands each
message to ``HANDLERS`` with a ``Turn``. Each handler makes its change with one call to
the room's ``SessionState`` (one atomic step), then queues its broadcasts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.engagement.events import EventKind, now_ms
from server.ids import MemberId
from server.rooms.chat import Author
from server.rooms.click_store import Click, ClickStore
from server.rooms.errors import Forbidden
from server.rooms.model import Participant
from server.rooms.moderation import is_moderator
from server.rooms.products import Product
from server.rooms.qa import Question
from server.rooms.room import Room
from server.rooms.room_state import SessionState
from server.signaling import messages_interactions as mi
from server.signaling.context import SessionContext


def current(ctx: SessionContext) -> Participant:
    """This connection's participant as the room has it now: the host may have changed
    its role (co-host, speaker) since it joined."""
    return ctx.room.get(ctx.me.participant_id) or ctx.me


@dataclass(frozen=True, slots=True)
class Turn:
    """One message's handling: the sender and where clicks are remembered."""

    ctx: SessionContext
    clicks: ClickStore | None

    @property
    def room(self) -> Room:
        return self.ctx.room

    @property
    def act(self) -> SessionState:
        return self.ctx.room.session

    @property
    def member_id(self) -> MemberId:
        return self.ctx.me.member_id

    def me(self) -> Participant:
        return current(self.ctx)

    def require_moderator(self, action: str) -> None:
        me = self.me()
        if not is_moderator(me):
            raise Forbidden(action, me.role.value)

    def record(self, kind: EventKind, **data: Any) -> None:
        self.ctx.service.record(
            kind,
            self.room,
            self.member_id,
            session=self.room.session_id,
            role=self.me().role.value,
            **data,
        )

    def reply(self, ref: str | None, **fields: Any) -> None:
        """Answer the sender alone, echoing the request's ``ref`` if it had one."""
        reply: dict[str, Any] = dict(fields)
        if ref is not None:
            reply["ref"] = ref
        self.ctx.send(reply)


# --- chat -------------------------------------------------------------------------


async def chat_send(t: Turn, msg: mi.ChatSend) -> None:
    message = await t.act.post_chat(Author.of(t.me()), msg.text, now_ms())
    t.room.broadcast("chat", message.to_json())
    t.record(EventKind.CHAT, action="send", message_id=message.message_id, length=len(message.text))


async def chat_delete(t: Turn, msg: mi.ChatDelete) -> None:
    t.require_moderator("delete chat messages")
    message = await t.act.delete_chat(msg.id)
    t.room.broadcast("chat_deleted", {"id": message.message_id})
    t.record(
        EventKind.CHAT,
        action="delete",
        message_id=message.message_id,
        author=message.author.member_id,
    )


# --- reactions --------------------------------------------------------------------


async def react(t: Turn, msg: mi.React) -> None:
    t.room.updates.reaction(msg.emoji)
    t.record(EventKind.REACTION, emoji=msg.emoji)


# --- Q&A --------------------------------------------------------------------------


async def ask(t: Turn, msg: mi.QuestionAsk) -> None:
    question = await t.act.ask(Author.of(t.me()), msg.text, now_ms())
    t.room.broadcast("question", {"question": question.to_json()})
    t.record(
        EventKind.QUESTION,
        action="ask",
        question_id=question.question_id,
        length=len(question.text),
    )


async def _vote(t: Turn, question_id: str, ref: str | None, up: bool) -> None:
    member = t.member_id
    question = await (t.act.upvote if up else t.act.unvote)(question_id, member)
    t.reply(ref, type="question_voted", id=question.question_id, voted=up, votes=question.votes)
    t.room.broadcast("question_votes", {"id": question.question_id, "votes": question.votes})
    t.record(
        EventKind.UPVOTE,
        action="add" if up else "remove",
        question_id=question.question_id,
        author=question.author.member_id,
    )


async def upvote(t: Turn, msg: mi.QuestionUpvote) -> None:
    await _vote(t, msg.id, msg.ref, up=True)


async def unvote(t: Turn, msg: mi.QuestionUnvote) -> None:
    await _vote(t, msg.id, msg.ref, up=False)


async def _question_changed(
    t: Turn, action: str, question_id: str, changed: Iterable[Question]
) -> None:
    for question in changed:
        t.room.broadcast("question", {"question": question.to_json()})
    t.record(EventKind.QUESTION, action=action, question_id=question_id)


async def answer(t: Turn, msg: mi.QuestionAnswer) -> None:
    t.require_moderator("mark questions answered")
    question = await t.act.answer(msg.id)
    await _question_changed(t, "answer", msg.id, [question])


async def pin(t: Turn, msg: mi.QuestionPin) -> None:
    t.require_moderator("pin questions")
    await _question_changed(t, "pin", msg.id, await t.act.pin_question(msg.id))


async def unpin(t: Turn, msg: mi.QuestionUnpin) -> None:
    t.require_moderator("unpin questions")
    question = await t.act.unpin_question(msg.id)
    await _question_changed(t, "unpin", msg.id, [question])


async def dismiss(t: Turn, msg: mi.QuestionDismiss) -> None:
    t.require_moderator("dismiss questions")
    question = await t.act.dismiss(msg.id)
    t.room.broadcast("question_removed", {"id": question.question_id})
    t.record(EventKind.QUESTION, action="dismiss", question_id=question.question_id)


# --- polls ------------------------------------------------------------------------


async def poll_create(t: Turn, msg: mi.PollCreate) -> None:
    t.require_moderator("create polls")
    poll = await t.act.create_poll(msg.question, msg.options, now_ms())
    t.room.broadcast("poll", {"poll": poll.to_json()})
    t.record(EventKind.POLL_VOTE, action="create", poll_id=poll.poll_id, options=len(poll.options))


async def poll_vote(t: Turn, msg: mi.PollVote) -> None:
    poll, previous = await t.act.vote(msg.id, t.member_id, msg.option)
    t.reply(msg.ref, type="poll_voted", id=poll.poll_id, option=msg.option)
    if previous == msg.option:
        return  # the same vote again changes nothing
    t.room.updates.poll_results(poll)
    t.record(
        EventKind.POLL_VOTE,
        action="vote" if previous is None else "change",
        poll_id=poll.poll_id,
        option=msg.option,
        previous=previous,
    )


async def poll_close(t: Turn, msg: mi.PollClose) -> None:
    t.require_moderator("close polls")
    poll = await t.act.close_poll(msg.id)
    t.room.broadcast("poll", {"poll": poll.to_json()})
    t.record(
        EventKind.POLL_VOTE,
        action="close",
        poll_id=poll.poll_id,
        total=len(poll.votes),
        counts=poll.counts(),
    )


# --- product moments --------------------------------------------------------------


async def product_pin(t: Turn, msg: mi.ProductPin) -> None:
    t.require_moderator("pin products")
    product = Product(msg.id, msg.title, msg.price, msg.link, msg.image)
    await t.act.pin_product(product)
    t.room.broadcast("product", {"product": product.to_json()})
    stats = await t.act.product_stats(product.product_id)
    if stats is not None:
        t.room.updates.product_stats(product.product_id, stats)
    t.record(EventKind.PRODUCT_CLICK, action="pin", product_id=msg.id)


async def product_unpin(t: Turn, msg: mi.ProductUnpin) -> None:
    t.require_moderator("unpin products")
    product = await t.act.unpin_product()
    t.room.broadcast("product", {"product": None})
    t.record(EventKind.PRODUCT_CLICK, action="unpin", product_id=product.product_id)


async def product_click(t: Turn, msg: mi.ProductClick) -> None:
    stats = await t.act.click_product(msg.id, t.member_id)
    t.room.updates.product_stats(msg.id, stats)
    t.record(EventKind.PRODUCT_CLICK, action="click", product_id=msg.id)
    click = Click(t.room.room_id, t.room.session_id, msg.id, now_ms())
    if t.clicks is not None:
        t.clicks.remember_soon(t.member_id, click)


HANDLERS: dict[type, Callable[[Turn, Any], Awaitable[None]]] = {
    mi.ChatSend: chat_send,
    mi.ChatDelete: chat_delete,
    mi.React: react,
    mi.QuestionAsk: ask,
    mi.QuestionUpvote: upvote,
    mi.QuestionUnvote: unvote,
    mi.QuestionAnswer: answer,
    mi.QuestionPin: pin,
    mi.QuestionUnpin: unpin,
    mi.QuestionDismiss: dismiss,
    mi.PollCreate: poll_create,
    mi.PollVote: poll_vote,
    mi.PollClose: poll_close,
    mi.ProductPin: product_pin,
    mi.ProductUnpin: product_unpin,
    mi.ProductClick: product_click,
}
