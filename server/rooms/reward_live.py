"""What one live room holds in memory for its rewards: the running offer and quiz, and
what its session's attendees did (the lucky draw's conditions). Synchronous and pure.

The counts that must be exact (stock, answers, points) are in Redis; this is the
room's view for the people in it now, rebuilt as the session goes (a node that takes
over a room starts with an empty view: operators still see everything in Redis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.engagement.events import STAFF_ROLES, EventKind
from server.rooms.draws import SessionActivity
from server.rooms.model import Participant
from server.rooms.moderation import MODERATORS
from server.rooms.quiz import Quiz
from server.rooms.rewards import CouponSpec

# Which recorded event kinds meet which draw condition.
TRACKED: dict[EventKind, str] = {
    EventKind.CHAT: "chatted",
    EventKind.QUESTION: "asked",
    EventKind.POLL_VOTE: "voted",
}
# The action of those kinds that counts (a deleted chat line is not chatting).
COUNTED_ACTIONS = {None, "send", "ask", "vote"}


@dataclass(slots=True)
class Drop:
    drop_id: str
    spec: CouponSpec
    session: str
    remaining: int

    def public_json(self) -> dict[str, Any]:
        return {
            "id": self.drop_id,
            "coupon": self.spec.coupon_id,
            "title": self.spec.title,
            "value": self.spec.value,
            "tiers": [t.value for t in self.spec.tiers],
            "remaining": self.remaining,
            "expires_ms": self.spec.expires_ms,
        }


@dataclass(slots=True)
class RoomRewards:
    session: str = ""
    drop: Drop | None = None
    quiz: Quiz | None = None
    chatted: set[str] = field(default_factory=set)
    asked: set[str] = field(default_factory=set)
    voted: set[str] = field(default_factory=set)
    tiers: dict[str, str] = field(default_factory=dict)  # member -> tier, seen this session
    watched: dict[str, float] = field(default_factory=dict)  # seconds of finished stays

    def start_session(self, session: str) -> None:
        """A new room session forgets the last one's attendees (not a running quiz)."""
        if session and session != self.session:
            self.session = session
            self.chatted.clear()
            self.asked.clear()
            self.voted.clear()
            self.tiers.clear()
            self.watched.clear()

    def saw(self, kind: EventKind, member: str, data: dict[str, Any]) -> None:
        """A recorded event: remember who chatted, asked or voted (members only)."""
        if data.get("role") in STAFF_ROLES:
            return
        bucket = TRACKED.get(kind)
        if bucket is not None and data.get("action") in COUNTED_ACTIONS:
            getattr(self, bucket).add(member)

    def met(self, participant: Participant) -> None:
        if participant.role not in MODERATORS:
            self.tiers[participant.member_id] = participant.tier.value if participant.tier else ""

    def left(self, participant: Participant, seconds: float) -> float:
        """Add a finished stay; returns the member's total this session."""
        total = self.watched.get(participant.member_id, 0.0) + seconds
        self.watched[participant.member_id] = total
        return total

    def activity(self, present: list[Participant], now: float) -> SessionActivity:
        here: dict[str, str] = {p.member_id: (p.tier.value if p.tier else "") for p in present}
        watched: dict[str, float] = dict(self.watched)
        for p in present:
            watched[p.member_id] = watched.get(p.member_id, 0.0) + max(0.0, now - p.joined_at)
        return SessionActivity(
            present=here,
            tiers={**self.tiers, **here},
            chatted=self.chatted,
            asked=self.asked,
            voted=self.voted,
            watched_seconds=watched,
        )
