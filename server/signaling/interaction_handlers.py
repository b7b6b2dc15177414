"""One function per interaction message: it hands the message's fields to the room's rule
in ``server/rooms/interactions.py`` and nothing else.

``server/signaling/interactions.py`` (the feature) checks the rate limit and hands each
message to ``HANDLERS`` with a ``Turn``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from server.rooms import interactions as ops
from server.rooms.click_store import ClickStore
from server.rooms.model import Participant
from server.rooms.products import Product
from server.signaling import messages_interactions as mi
from server.signaling.context import SessionContext
from server.signaling.message_shapes import ById, WithText


def current(ctx: SessionContext) -> Participant:
    """This connection's participant as the room has it now: the host may have changed
    its role (co-host, speaker) since it joined."""
    return ctx.current()


@dataclass(frozen=True, slots=True)
class Turn:
    """One message's handling: the sender and where clicks are remembered."""

    ctx: SessionContext
    clicks: ClickStore | None

    def actor(self, ref: str | None) -> ops.Actor:
        """The sender as the room's rules see them; replies echo ``ref``."""

        def reply(kind: str, fields: dict[str, Any]) -> None:
            message: dict[str, Any] = {"type": kind, **fields}
            if ref is not None:
                message["ref"] = ref
            self.ctx.send(message)

        return ops.Actor(self.ctx.service, self.ctx.room, current(self.ctx), reply, self.clicks)


Handler = Callable[[Turn, Any], Awaitable[None]]


Rule = Callable[[ops.Actor, str], Awaitable[None]]


def _by_id(op: Rule) -> Handler:
    """A message naming one item: the rule gets its ``id``."""

    async def handle(t: Turn, msg: ById) -> None:
        await op(t.actor(msg.ref), msg.id)

    return handle


def _with_text(op: Rule) -> Handler:
    """A message carrying what someone wrote: the rule gets its ``text``."""

    async def handle(t: Turn, msg: WithText) -> None:
        await op(t.actor(msg.ref), msg.text)

    return handle


def _question(action: str) -> Handler:
    async def handle(t: Turn, msg: Any) -> None:
        await ops.change_question(t.actor(msg.ref), action, msg.id)

    return handle


def _vote(up: bool) -> Handler:
    async def handle(t: Turn, msg: Any) -> None:
        await ops.vote_question(t.actor(msg.ref), msg.id, up)

    return handle


async def react(t: Turn, msg: mi.React) -> None:
    await ops.react(t.actor(msg.ref), msg.emoji)


async def poll_create(t: Turn, msg: mi.PollCreate) -> None:
    await ops.poll_create(t.actor(msg.ref), msg.question, msg.options)


async def poll_vote(t: Turn, msg: mi.PollVote) -> None:
    await ops.poll_vote(t.actor(msg.ref), msg.id, msg.option)


async def product_pin(t: Turn, msg: mi.ProductPin) -> None:
    product = Product(msg.id, msg.title, msg.price, msg.link, msg.image)
    await ops.product_pin(t.actor(msg.ref), product)


async def product_unpin(t: Turn, msg: mi.ProductUnpin) -> None:
    await ops.product_unpin(t.actor(msg.ref))


HANDLERS: dict[type, Handler] = {
    mi.ChatSend: _with_text(ops.chat_send),
    mi.ChatDelete: _by_id(ops.chat_delete),
    mi.React: react,
    mi.QuestionAsk: _with_text(ops.ask),
    mi.QuestionUpvote: _vote(up=True),
    mi.QuestionUnvote: _vote(up=False),
    mi.QuestionAnswer: _question("answer"),
    mi.QuestionPin: _question("pin"),
    mi.QuestionUnpin: _question("unpin"),
    mi.QuestionDismiss: _by_id(ops.dismiss),
    mi.PollCreate: poll_create,
    mi.PollVote: poll_vote,
    mi.PollClose: _by_id(ops.poll_close),
    mi.ProductPin: product_pin,
    mi.ProductUnpin: product_unpin,
    mi.ProductClick: _by_id(ops.product_click),
}
