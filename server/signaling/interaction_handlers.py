"""One function per interaction message: it hands the message's fields to the room's rule
in ``server/rooms/interactions.py`` and nothing else.

``server/signaling/interactions.py`` (the feature) checks the rate limit and hands each
message to ``handle`` with a ``Turn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from server.outbound import Outbound
from server.rooms import interactions as ops
from server.rooms.click_store import ClickStore
from server.rooms.model import Participant
from server.rooms.products import Product
from server.signaling import messages_interactions as mi
from server.signaling.context import SessionContext


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

        def reply(message: Outbound) -> None:
            self.ctx.send(message.to_json(ref))

        return ops.Actor(self.ctx.service, self.ctx.room, current(self.ctx), reply, self.clicks)


async def handle(t: Turn, msg: mi.InteractionMessage) -> None:
    """Hand ``msg``'s fields to its rule (mypy checks every message type has a case)."""
    a = t.actor(msg.ref)
    match msg:
        case mi.ChatSend():
            await ops.chat_send(a, msg.text)
        case mi.ChatDelete():
            await ops.chat_delete(a, msg.id)
        case mi.React():
            await ops.react(a, msg.emoji)
        case mi.QuestionAsk():
            await ops.ask(a, msg.text)
        case mi.QuestionUpvote() | mi.QuestionUnvote():
            await ops.vote_question(a, msg.id, isinstance(msg, mi.QuestionUpvote))
        case mi.QuestionAnswer():
            await ops.change_question(a, "answer", msg.id)
        case mi.QuestionPin():
            await ops.change_question(a, "pin", msg.id)
        case mi.QuestionUnpin():
            await ops.change_question(a, "unpin", msg.id)
        case mi.QuestionDismiss():
            await ops.dismiss(a, msg.id)
        case mi.PollCreate():
            await ops.poll_create(a, msg.question, msg.options)
        case mi.PollVote():
            await ops.poll_vote(a, msg.id, msg.option)
        case mi.PollClose():
            await ops.poll_close(a, msg.id)
        case mi.ProductPin():
            await ops.product_pin(a, Product(msg.id, msg.title, msg.price, msg.link, msg.image))
        case mi.ProductUnpin():
            await ops.product_unpin(a)
        case mi.ProductClick():
            await ops.product_click(a, msg.id)
        case _:
            assert_never(msg)
