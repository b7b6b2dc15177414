"""What each interaction does to a room: who may do it, the change (one atomic call to the
room's ``SessionState``), what is broadcast to whom, and the engagement event recorded.
The event is recorded before anything is sent: a page may see the broadcast (written to
its socket at once) the moment it is made, and a node killed right after must have
journalled what its pages saw (docs/decisions.md, "Acknowledged events survive kill -9").

The wire edge (``server/signaling/interaction_handlers.py``) parses the message, checks
the sender's rate limit and calls one function here with an ``Actor``; the answer meant
for the sender alone goes back through ``Actor.reply``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server import outbound as out
from server.engagement.events import EventKind, now_ms
from server.rooms.chat import Author
from server.rooms.click_store import Click, ClickStore
from server.rooms.errors import Forbidden
from server.rooms.model import Participant
from server.rooms.moderation import is_moderator
from server.rooms.products import Product
from server.rooms.qa import Question
from server.rooms.room import Room
from server.rooms.service import RoomService


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts (as the room has them now), in which room, and how to answer them."""

    service: RoomService
    room: Room
    me: Participant
    # Answer the sender alone: (kind, fields).
    reply: Callable[[out.Outbound], None]
    clicks: ClickStore | None = None

    def require_moderator(self, action: str) -> None:
        if not is_moderator(self.me):
            raise Forbidden(action, self.me.role.value)

    def record(self, kind: EventKind, **data: Any) -> None:
        self.service.record(
            kind,
            self.room,
            self.me.member_id,
            session=self.room.session_id,
            role=self.me.role.value,
            **data,
        )


# --- chat -------------------------------------------------------------------------


async def chat_send(a: Actor, text: str) -> None:
    message = await a.room.session.post_chat(Author.of(a.me), text, now_ms())
    a.record(EventKind.CHAT, action="send", message_id=message.message_id, length=len(message.text))
    a.room.broadcast(*out.chat(message.to_json()))


async def chat_delete(a: Actor, message_id: str) -> None:
    a.require_moderator("delete chat messages")
    message = await a.room.session.delete_chat(message_id)
    a.record(
        EventKind.CHAT,
        action="delete",
        message_id=message.message_id,
        author=message.author.member_id,
    )
    a.room.broadcast(*out.chat_deleted(message.message_id))


# --- reactions --------------------------------------------------------------------


async def react(a: Actor, emoji: str) -> None:
    a.record(EventKind.REACTION, emoji=emoji)
    a.room.updates.reaction(emoji)


# --- Q&A --------------------------------------------------------------------------


async def ask(a: Actor, text: str) -> None:
    question = await a.room.session.ask(Author.of(a.me), text, now_ms())
    a.record(
        EventKind.QUESTION,
        action="ask",
        question_id=question.question_id,
        length=len(question.text),
    )
    a.room.broadcast(*out.question(question.to_json()))


async def vote_question(a: Actor, question_id: str, up: bool) -> None:
    member = a.me.member_id
    session = a.room.session
    question = await (session.upvote if up else session.unvote)(question_id, member)
    a.record(
        EventKind.UPVOTE,
        action="add" if up else "remove",
        question_id=question.question_id,
        author=question.author.member_id,
    )
    a.reply(out.question_voted(question.question_id, up, question.votes))
    a.room.broadcast(*out.question_votes(question.question_id, question.votes))


# What a moderator does to a question, and the refusal's "may not …" for others.
QUESTION_ACTIONS = {
    "answer": "mark questions answered",
    "pin": "pin questions",
    "unpin": "unpin questions",
}


async def change_question(a: Actor, action: str, question_id: str) -> None:
    """Answer, pin or unpin a question (moderators): every question that changed is sent."""
    a.require_moderator(QUESTION_ACTIONS[action])
    session = a.room.session
    changed: list[Question]
    if action == "answer":
        changed = [await session.answer(question_id)]
    elif action == "pin":
        changed = await session.pin_question(question_id)  # unpins any other
    else:
        changed = [await session.unpin_question(question_id)]
    a.record(EventKind.QUESTION, action=action, question_id=question_id)
    for question in changed:
        a.room.broadcast(*out.question(question.to_json()))


async def dismiss(a: Actor, question_id: str) -> None:
    a.require_moderator("dismiss questions")
    question = await a.room.session.dismiss(question_id)
    a.record(EventKind.QUESTION, action="dismiss", question_id=question.question_id)
    a.room.broadcast(*out.question_removed(question.question_id))


# --- polls ------------------------------------------------------------------------


async def poll_create(a: Actor, question: str, options: tuple[str, ...]) -> None:
    a.require_moderator("create polls")
    poll = await a.room.session.create_poll(question, options, now_ms())
    a.record(EventKind.POLL_VOTE, action="create", poll_id=poll.poll_id, options=len(poll.options))
    a.room.broadcast(*out.poll(poll.to_json()))


async def poll_vote(a: Actor, poll_id: str, option: int) -> None:
    poll, previous = await a.room.session.vote(poll_id, a.me.member_id, option)
    if previous == option:
        a.reply(out.poll_voted(poll.poll_id, option))
        return  # the same vote again changes nothing
    a.record(
        EventKind.POLL_VOTE,
        action="vote" if previous is None else "change",
        poll_id=poll.poll_id,
        option=option,
        previous=previous,
    )
    a.reply(out.poll_voted(poll.poll_id, option))
    a.room.updates.poll_results(poll)


async def poll_close(a: Actor, poll_id: str) -> None:
    a.require_moderator("close polls")
    poll = await a.room.session.close_poll(poll_id)
    a.record(
        EventKind.POLL_VOTE,
        action="close",
        poll_id=poll.poll_id,
        total=len(poll.votes),
        counts=poll.counts(),
    )
    a.room.broadcast(*out.poll(poll.to_json()))


# --- product moments --------------------------------------------------------------


async def product_pin(a: Actor, product: Product) -> None:
    a.require_moderator("pin products")
    await a.room.session.pin_product(product)
    a.record(EventKind.PRODUCT_CLICK, action="pin", product_id=product.product_id)
    a.room.broadcast(*out.product(product.to_json()))
    stats = await a.room.session.product_stats(product.product_id)
    if stats is not None:
        a.room.updates.product_stats(product.product_id, stats)


async def product_unpin(a: Actor) -> None:
    a.require_moderator("unpin products")
    product = await a.room.session.unpin_product()
    a.record(EventKind.PRODUCT_CLICK, action="unpin", product_id=product.product_id)
    a.room.broadcast(*out.product(None))


async def product_click(a: Actor, product_id: str) -> None:
    stats = await a.room.session.click_product(product_id, a.me.member_id)
    a.record(EventKind.PRODUCT_CLICK, action="click", product_id=product_id)
    a.room.updates.product_stats(product_id, stats)
    click = Click(a.room.room_id, a.room.session_id, product_id, now_ms())
    if a.clicks is not None:
        a.clicks.remember_soon(a.me.member_id, click)
