"""Everything members do together in one live room session, and its rate limiters.

A ``RoomActivity`` lives as long as its ``Room`` object (a room session: from the first
join until the room empties and closes). It holds the chat, the reaction tally, Q&A,
polls, the product shelf and the hosts' journal (purchases, tier changes), plus one
``Limiter`` per member (not per connection: a reconnect must not refill the buckets).
It must never hold
the ``Room`` itself: the signaling feature keys activities by room in a weak map.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from server.ids import MemberId
from server.rooms.chat import ChatLog
from server.rooms.journal import SessionJournal
from server.rooms.polls import PollBox
from server.rooms.products import ProductShelf
from server.rooms.qa import QaBoard
from server.rooms.ratelimit import Limit, Limiter
from server.rooms.reactions import ReactionTally
from server.settings import InteractionSettings

LIMIT_NAMES = ("chat", "reaction", "question", "vote", "click", "moderation")
PRUNE_MIN = 64
# A limiter unused this long has refilled every bucket (the slowest default refills in
# 15 s): dropping it changes nothing, so the table is pruned of those only.
PRUNE_IDLE_S = 600.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The configured limits, by name (see ``InteractionSettings``)."""

    by_name: dict[str, Limit]

    @classmethod
    def from_settings(cls, settings: InteractionSettings) -> Limits:
        return cls(
            {
                name: Limit(
                    name, getattr(settings, f"{name}_rate"), getattr(settings, f"{name}_burst")
                )
                for name in LIMIT_NAMES
            }
        )

    def __getitem__(self, name: str) -> Limit:
        return self.by_name[name]


class RoomActivity:
    def __init__(self, room_id: str, settings: InteractionSettings, started_ms: int) -> None:
        self.room_id = room_id
        # Unique per room session; events carry it next to the room id.
        self.session_id = f"s{started_ms:x}{secrets.token_hex(3)}"
        self.started_ms = started_ms
        self.chat = ChatLog(settings.chat_history, settings.chat_max_length)
        self.reactions = ReactionTally()
        self.qa = QaBoard(settings.max_questions, settings.question_max_length)
        self.polls = PollBox(settings.max_polls)
        self.shelf = ProductShelf()
        self.journal = SessionJournal()
        self._limiters: dict[MemberId, Limiter] = {}
        self._prune_at = PRUNE_MIN

    def limiter(self, member_id: MemberId, now: float) -> Limiter:
        """The limiter of one member in this room session, whichever connection they
        use. Limiters idle for ``PRUNE_IDLE_S`` (full again) are dropped now and then
        (when the table has doubled), so the table stays small."""
        limiter = self._limiters.get(member_id)
        if limiter is None:
            if len(self._limiters) >= self._prune_at:
                self._limiters = {
                    m: lim for m, lim in self._limiters.items() if now - lim.last < PRUNE_IDLE_S
                }
                self._prune_at = max(PRUNE_MIN, 2 * len(self._limiters))
            limiter = self._limiters[member_id] = Limiter()
        return limiter

    @property
    def limiter_count(self) -> int:
        return len(self._limiters)
