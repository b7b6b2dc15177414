"""Polls: the host asks a single-choice question with 2-6 options; members vote.

Pure and synchronous. One poll is open at a time (as in Zoom webinars); a member has
one vote per poll and may change it until the poll closes; closed polls keep their
results. Votes are counted per member, not per connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from server.ids import MemberId
from server.rooms.errors import BadChoice, InvalidState, ItemNotFound

MIN_OPTIONS = 2
MAX_OPTIONS = 6


class PollState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(slots=True)
class Poll:
    poll_id: str
    question: str
    options: tuple[str, ...]
    created_ms: int
    state: PollState = PollState.OPEN
    votes: dict[MemberId, int] = field(default_factory=dict)

    def counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for option in self.votes.values():
            counts[option] += 1
        return counts

    def results(self) -> dict[str, object]:
        return {"id": self.poll_id, "counts": self.counts(), "total": len(self.votes)}

    def to_json(self, viewer: MemberId | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.poll_id,
            "question": self.question,
            "options": list(self.options),
            "counts": self.counts(),
            "total": len(self.votes),
            "state": self.state.value,
            "ts": self.created_ms,
        }
        if viewer is not None:
            out["my_vote"] = self.votes.get(viewer)
        return out


class PollBox:
    """The polls of one live room: at most one open, and the last ``keep`` polls."""

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self._polls: dict[str, Poll] = {}
        self._seq = 0

    @property
    def open_poll(self) -> Poll | None:
        return next((p for p in self._polls.values() if p.state is PollState.OPEN), None)

    def create(self, question: str, options: tuple[str, ...], now_ms: int) -> Poll:
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ValueError(f"a poll needs {MIN_OPTIONS} to {MAX_OPTIONS} options")
        current = self.open_poll
        if current is not None:
            raise InvalidState("poll_open", "open", poll=current.poll_id)
        self._seq += 1
        poll = Poll(f"v{self._seq}", question.strip(), tuple(o.strip() for o in options), now_ms)
        self._polls[poll.poll_id] = poll
        while len(self._polls) > self.keep:
            del self._polls[next(iter(self._polls))]  # the oldest; never the open one
        return poll

    def vote(self, poll_id: str, member: MemberId, option: int) -> tuple[Poll, int | None]:
        """Record or change ``member``'s vote; returns the poll and the previous option."""
        poll = self._get(poll_id)
        if poll.state is not PollState.OPEN:
            raise InvalidState("poll_not_open", poll.state.value, poll=poll_id, done="vote")
        if not 0 <= option < len(poll.options):
            raise BadChoice(option, len(poll.options))
        previous = poll.votes.get(member)
        poll.votes[member] = option
        return poll, previous

    def close(self, poll_id: str) -> Poll:
        poll = self._get(poll_id)
        if poll.state is not PollState.OPEN:
            raise InvalidState("poll_not_open", poll.state.value, poll=poll_id, done="close")
        poll.state = PollState.CLOSED
        return poll

    def get(self, poll_id: str) -> Poll | None:
        return self._polls.get(poll_id)

    def snapshot(self) -> tuple[int, list[Poll]]:
        """Its sequence number and the polls kept, for a store to save."""
        return self._seq, list(self._polls.values())

    def restore(self, seq: int, polls: list[Poll]) -> None:
        """Take back what ``snapshot`` gave (a store loading a saved box)."""
        self._seq = seq
        self._polls = {p.poll_id: p for p in polls}

    def all(self) -> list[Poll]:
        """Polls oldest first."""
        return list(self._polls.values())

    def _get(self, poll_id: str) -> Poll:
        poll = self._polls.get(poll_id)
        if poll is None:
            raise ItemNotFound("poll", poll_id)
        return poll
