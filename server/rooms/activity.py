"""Everything members do together in one live room session, and its rate limiters.

A ``RoomActivity`` lives as long as its ``Room`` object (a room session: from the first
join until the room empties and closes). It holds the chat, the reaction tally, Q&A,
polls, the product shelf and the hosts' journal (purchases, tier changes), plus one
``Limiter`` per connection. It must never hold
the ``Room`` itself: the signaling feature keys activities by room in a weak map.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from server.ids import ParticipantId
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
        self._limiters: dict[ParticipantId, Limiter] = {}
        self._prune_at = PRUNE_MIN

    def limiter(
        self, participant_id: ParticipantId, present: Callable[[ParticipantId], bool]
    ) -> Limiter:
        """The limiter of one connection. Limiters of connections that are gone are
        dropped now and then (when the table has doubled), so the table stays small."""
        limiter = self._limiters.get(participant_id)
        if limiter is None:
            if len(self._limiters) >= self._prune_at:
                self._limiters = {p: lim for p, lim in self._limiters.items() if present(p)}
                self._prune_at = max(PRUNE_MIN, 2 * len(self._limiters))
            limiter = self._limiters[participant_id] = Limiter()
        return limiter

    @property
    def limiter_count(self) -> int:
        return len(self._limiters)
