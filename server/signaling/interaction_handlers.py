"""One function per interaction message: what it changes in the room's activity, what it
broadcasts and to whom, and the engagement event it records.

``server/signaling/interactions.py`` (the feature) checks the rate limit and hands each
message to ``HANDLERS`` with a ``Turn``. Handlers never await: each applies its change and
queues its broadcasts in one step, so no other message can see half of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server import outbound as out
from server.engagement.events import EventKind, now_ms
from server.ids import MemberId
from server.rooms.activity import RoomActivity
from server.rooms.chat import Author
from server.rooms.click_store import Click, ClickStore
from server.rooms.errors import Forbidden
from server.rooms.model import Participant
from server.rooms.moderation import is_moderator
from server.rooms.products import Product
from server.rooms.qa import Question
from server.rooms.room import Room
from server.signaling import messages_interactions as mi
from server.signaling.coalesce import Coalescer
from server.signaling.context import SessionContext

# The coalescer key for reaction counts (poll results and product stats key by id).
REACTIONS_KEY = "reactions"


def current(ctx: SessionContext) -> Participant:
    """This connection's participant as the room has it now: the host may have changed
    its role (co-host, speaker) since it joined."""
    return ctx.current()


@dataclass(frozen=True, slots=True)
class Turn:
    """One message's handling: the sender, the room's activity, and its flusher."""

    ctx: SessionContext
    act: RoomActivity
    flusher: Coalescer
    clicks: ClickStore | None

    @property
    def room(self) -> Room:
        return self.ctx.room

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
            session=self.act.session_id,
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


def chat_send(t: Turn, msg: mi.ChatSend) -> None:
    message = t.act.chat.post(Author.of(t.me()), msg.text, now_ms())
    t.room.broadcast(*out.chat(message.to_json()))
    t.record(EventKind.CHAT, action="send", message_id=message.message_id, length=len(message.text))


def chat_delete(t: Turn, msg: mi.ChatDelete) -> None:
    t.require_moderator("delete_chat")
    message = t.act.chat.delete(msg.id)
    t.room.broadcast(*out.chat_deleted(message.message_id))
    t.record(
        EventKind.CHAT,
        action="delete",
        message_id=message.message_id,
        author=message.author.member_id,
    )


# --- reactions --------------------------------------------------------------------


def react(t: Turn, msg: mi.React) -> None:
    t.act.reactions.add(msg.emoji)
    t.flusher.mark(REACTIONS_KEY)
    t.record(EventKind.REACTION, emoji=msg.emoji)


# --- Q&A --------------------------------------------------------------------------


def ask(t: Turn, msg: mi.QuestionAsk) -> None:
    question = t.act.qa.ask(Author.of(t.me()), msg.text, now_ms())
    t.room.broadcast(*out.question(question.to_json()))
    t.record(
        EventKind.QUESTION,
        action="ask",
        question_id=question.question_id,
        length=len(question.text),
    )


def _vote(t: Turn, question_id: str, ref: str | None, up: bool) -> None:
    member = t.member_id
    question = t.act.qa.upvote(question_id, member) if up else t.act.qa.unvote(question_id, member)
    t.reply(ref, type="question_voted", id=question.question_id, voted=up, votes=question.votes)
    t.room.broadcast(*out.question_votes(question.question_id, question.votes))
    t.record(
        EventKind.UPVOTE,
        action="add" if up else "remove",
        question_id=question.question_id,
        author=question.author.member_id,
    )


def upvote(t: Turn, msg: mi.QuestionUpvote) -> None:
    _vote(t, msg.id, msg.ref, up=True)


def unvote(t: Turn, msg: mi.QuestionUnvote) -> None:
    _vote(t, msg.id, msg.ref, up=False)


def _question_changed(t: Turn, action: str, question_id: str, changed: Iterable[Question]) -> None:
    for question in changed:
        t.room.broadcast(*out.question(question.to_json()))
    t.record(EventKind.QUESTION, action=action, question_id=question_id)


def answer(t: Turn, msg: mi.QuestionAnswer) -> None:
    t.require_moderator("answer_question")
    question = t.act.qa.answer(msg.id)
    _question_changed(t, "answer", msg.id, [question])


def pin(t: Turn, msg: mi.QuestionPin) -> None:
    t.require_moderator("pin_question")
    _question_changed(t, "pin", msg.id, t.act.qa.pin(msg.id))


def unpin(t: Turn, msg: mi.QuestionUnpin) -> None:
    t.require_moderator("unpin_question")
    question = t.act.qa.unpin(msg.id)
    _question_changed(t, "unpin", msg.id, [question])


def dismiss(t: Turn, msg: mi.QuestionDismiss) -> None:
    t.require_moderator("dismiss_question")
    question = t.act.qa.dismiss(msg.id)
    t.room.broadcast(*out.question_removed(question.question_id))
    t.record(EventKind.QUESTION, action="dismiss", question_id=question.question_id)


# --- polls ------------------------------------------------------------------------


def poll_create(t: Turn, msg: mi.PollCreate) -> None:
    t.require_moderator("create_poll")
    poll = t.act.polls.create(msg.question, msg.options, now_ms())
    t.room.broadcast(*out.poll(poll.to_json()))
    t.record(EventKind.POLL_VOTE, action="create", poll_id=poll.poll_id, options=len(poll.options))


def poll_vote(t: Turn, msg: mi.PollVote) -> None:
    poll, previous = t.act.polls.vote(msg.id, t.member_id, msg.option)
    t.reply(msg.ref, type="poll_voted", id=poll.poll_id, option=msg.option)
    if previous == msg.option:
        return  # the same vote again changes nothing
    t.flusher.mark(("poll", poll.poll_id))
    t.record(
        EventKind.POLL_VOTE,
        action="vote" if previous is None else "change",
        poll_id=poll.poll_id,
        option=msg.option,
        previous=previous,
    )


def poll_close(t: Turn, msg: mi.PollClose) -> None:
    t.require_moderator("close_poll")
    poll = t.act.polls.close(msg.id)
    t.room.broadcast(*out.poll(poll.to_json()))
    t.record(
        EventKind.POLL_VOTE,
        action="close",
        poll_id=poll.poll_id,
        total=len(poll.votes),
        counts=poll.counts(),
    )


# --- product moments --------------------------------------------------------------


def product_pin(t: Turn, msg: mi.ProductPin) -> None:
    t.require_moderator("pin_product")
    product = Product(msg.id, msg.title, msg.price, msg.link, msg.image)
    t.act.shelf.pin(product)
    t.room.broadcast(*out.product(product.to_json()))
    t.flusher.mark(("product", product.product_id))
    t.record(EventKind.PRODUCT_CLICK, action="pin", product_id=msg.id)


def product_unpin(t: Turn, msg: mi.ProductUnpin) -> None:
    t.require_moderator("unpin_product")
    product = t.act.shelf.unpin()
    t.room.broadcast(*out.product(None))
    t.record(EventKind.PRODUCT_CLICK, action="unpin", product_id=product.product_id)


def product_click(t: Turn, msg: mi.ProductClick) -> None:
    t.act.shelf.click(msg.id, t.member_id)
    t.flusher.mark(("product", msg.id))
    t.record(EventKind.PRODUCT_CLICK, action="click", product_id=msg.id)
    click = Click(t.room.room_id, t.act.session_id, msg.id, now_ms())
    if t.clicks is not None:
        t.clicks.remember_soon(t.member_id, click)


HANDLERS: dict[type, Callable[[Turn, Any], None]] = {
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
