"""The interactions feature: chat, reactions, Q&A, polls and product moments on the socket.

It owns the server side of those messages: per-connection rate limits, who may do what
(moderation is for hosts, see ``server.rooms.moderation``), what is broadcast to whom, the
state late joiners get, and one engagement event per interaction. The rules themselves
live in ``server.rooms`` (``chat``, ``reactions``, ``qa``, ``polls``, ``products``).

The handlers, one per message, are in ``server/signaling/interaction_handlers.py``; they
never await, so no other message can see half of a change. Bursty updates (reactions,
poll results, click counts) are coalesced per room and sent at most once per
``flush_interval``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from server import outbound as out
from server.engagement.events import now_ms
from server.ids import MemberId, ParticipantId
from server.rooms.activity import Limits, RoomActivity
from server.rooms.click_store import ClickStore
from server.rooms.errors import RateLimited
from server.rooms.moderation import is_moderator, moderators
from server.rooms.reactions import REACTIONS
from server.rooms.room import Room
from server.settings import InteractionSettings
from server.signaling import messages_interactions as mi
from server.signaling.coalesce import Coalescer
from server.signaling.context import SessionContext
from server.signaling.errors import error_message
from server.signaling.interaction_handlers import HANDLERS, REACTIONS_KEY, Turn, current

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

    # --- Feature ----------------------------------------------------------------------

    async def handle(self, ctx: SessionContext, message: Any) -> None:
        live = self._live(ctx.room)
        limit = self._limits[LIMIT_OF[type(message)]]
        room = ctx.room
        now = self._clock()
        limiter = live.activity.limiter(ctx.me.member_id, now)
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
        HANDLERS[type(message)](Turn(ctx, live.activity, live.flusher, self._clicks), message)

    def joined_state(self, ctx: SessionContext) -> dict[str, Any]:
        activity = self._live(ctx.room).activity
        viewer = ctx.me.member_id
        moderator = is_moderator(current(ctx))
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
        if moderator:
            # The session so far, so that a reloaded console shows what it showed before.
            summary = activity.journal.to_json()
            summary["products"] = activity.shelf.all_stats()
            state["summary"] = summary
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
        name = participant.name if participant else member_id
        message = out.purchase(member_id, name, product_id, details)
        live.activity.journal.purchase(message.payload)
        room.broadcast(*message, only=self._moderators(room))
        live.flusher.mark(("product", product_id))
        return live.activity.session_id

    def tier_changed(self, room: Room, payload: dict[str, Any]) -> None:
        """Keep a tier change of someone in ``room`` for its hosts' session summary."""
        self._live(room).activity.journal.tier_change(payload)

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
                    room.broadcast(*out.reactions(counts))
            elif isinstance(key, tuple) and key[0] == "poll":
                poll = activity.polls.get(key[1])
                if poll is not None:
                    room.broadcast(*out.poll_results(poll.results()))
            elif isinstance(key, tuple) and key[0] == "product":
                stats = activity.shelf.stats(key[1])
                if stats is not None:
                    if moderators is None:
                        moderators = self._moderators(room)
                    room.broadcast(*out.product_stats(stats.to_json(key[1])), only=moderators)

    @staticmethod
    def _moderators(room: Room) -> list[ParticipantId]:
        return moderators(room.participants)
