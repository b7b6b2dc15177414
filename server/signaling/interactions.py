"""The interactions feature: chat, reactions, Q&A, polls and product moments on the socket.

It owns the wire side of those messages: the per-member rate limits (``Room.limiters``),
handing each message to its rule, and the state late joiners get in ``joined``. Who may do
what, the change, the broadcast and the engagement event are the room's
(``server/rooms/interactions.py``, over the room's ``SessionState``); the handlers, one per
message, are in ``server/signaling/interaction_handlers.py``. Bursty updates (reactions,
poll results, click counts) are coalesced per room (``Room.updates``) and sent at most once
per ``flush_interval``. The room owns its session: it starts when the room opens and ends
when it closes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from server.rooms.activity import Limits
from server.rooms.click_store import ClickStore
from server.rooms.errors import RateLimited
from server.rooms.moderation import is_moderator
from server.rooms.reactions import REACTIONS
from server.settings import InteractionSettings
from server.signaling import messages_interactions as mi
from server.signaling.context import SessionContext
from server.signaling.errors import error_message
from server.signaling.interaction_handlers import Turn, current, handle

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

    # --- Feature ----------------------------------------------------------------------

    async def handle(self, ctx: SessionContext, message: mi.InteractionMessage) -> None:
        limit = self._limits[LIMIT_OF[type(message)]]
        room = ctx.room
        now = self._clock()
        limiter = room.limiters.limiter(ctx.me.member_id, now)
        try:
            limiter.check(limit, now)
        except RateLimited as exc:
            logger.debug("room %s: %s hit the %s limit", room.room_id, ctx.me.member_id, exc.limit)
            ctx.send(
                error_message(
                    exc, message.ref, limit=exc.limit, retry_after=round(exc.retry_after, 3)
                )
            )
            return
        await handle(Turn(ctx, self._clicks), message)

    async def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        state_of = ctx.room.session
        viewer = ctx.me.member_id
        moderator = is_moderator(current(ctx))
        pinned = await state_of.pinned_product()
        state: dict[str, Any] = {
            "session": state_of.session_id,
            "moderator": moderator,
            "reactions": list(REACTIONS),
            "limits": {
                "chat_max_length": self._settings.chat_max_length,
                "question_max_length": self._settings.question_max_length,
            },
            "chat": [message.to_json() for message in await state_of.chat_history()],
            "questions": [q.to_json(viewer) for q in await state_of.questions()],
            "polls": [poll.to_json(viewer) for poll in await state_of.polls()],
            "product": pinned.to_json() if pinned else None,
        }
        if moderator and pinned is not None:
            stats = await state_of.product_stats(pinned.product_id)
            state["product_stats"] = stats.to_json(pinned.product_id) if stats else None
        if moderator:
            # The session so far, so that a reloaded console shows what it showed before.
            state["summary"] = await state_of.summary()
        return {"interactions": state}

    async def close(self) -> None:
        """Wait briefly for click-store writes (app shutdown)."""
        if self._clicks is not None:
            await self._clicks.close()
