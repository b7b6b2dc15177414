"""Q&A: questions, one upvote per member, and the host's answer / pin / dismiss.

Pure and synchronous. Votes are counted per member (not per connection), so reloading
the page does not give a second vote. The list people see is ordered by votes (most
first), then by time asked (earliest first); answered questions follow the open ones
and dismissed questions are no longer shown. At most one question is pinned: the one
the host is answering now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from server.ids import MemberId
from server.rooms.chat import Author
from server.rooms.errors import (
    AlreadyVoted,
    InvalidState,
    ItemNotFound,
    LimitReached,
    NotVoted,
    OwnItem,
    TextTooLong,
)


class QuestionState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    DISMISSED = "dismissed"


@dataclass(slots=True)
class Question:
    question_id: str
    seq: int
    author: Author
    text: str
    asked_ms: int
    state: QuestionState = QuestionState.OPEN
    pinned: bool = False
    voters: set[MemberId] = field(default_factory=set)

    @property
    def votes(self) -> int:
        return len(self.voters)

    def sort_key(self) -> tuple[int, int, int, int]:
        return (self.state is not QuestionState.OPEN, -self.votes, self.asked_ms, self.seq)

    def to_json(self, viewer: MemberId | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.question_id,
            "text": self.text,
            "author": self.author.to_json(),
            "votes": self.votes,
            "state": self.state.value,
            "pinned": self.pinned,
            "ts": self.asked_ms,
        }
        if viewer is not None:
            out["voted"] = viewer in self.voters
        return out


class QaBoard:
    """The questions of one live room."""

    def __init__(self, max_questions: int = 500, max_length: int = 300) -> None:
        self.max_questions = max_questions
        self.max_length = max_length
        self._questions: dict[str, Question] = {}
        self._seq = 0

    # --- members --------------------------------------------------------------------

    def ask(self, author: Author, text: str, now_ms: int) -> Question:
        clean = text.strip()
        if len(clean) > self.max_length:
            raise TextTooLong("question", self.max_length)
        shown = sum(1 for q in self._questions.values() if q.state is not QuestionState.DISMISSED)
        if shown >= self.max_questions:
            raise LimitReached("questions", self.max_questions)
        self._seq += 1
        question = Question(f"q{self._seq}", self._seq, author, clean, now_ms)
        self._questions[question.question_id] = question
        return question

    def upvote(self, question_id: str, member: MemberId) -> Question:
        question = self._open(question_id, "upvote")
        if question.author.member_id == member:
            raise OwnItem("upvote")
        if member in question.voters:
            raise AlreadyVoted("question")
        question.voters.add(member)
        return question

    def unvote(self, question_id: str, member: MemberId) -> Question:
        question = self._open(question_id, "vote")
        if member not in question.voters:
            raise NotVoted("question")
        question.voters.discard(member)
        return question

    # --- host -----------------------------------------------------------------------

    def answer(self, question_id: str) -> Question:
        question = self._open(question_id, "answer")
        question.state = QuestionState.ANSWERED
        question.pinned = False
        return question

    def pin(self, question_id: str) -> list[Question]:
        """Pin an open question, unpinning any other; returns every question that changed."""
        question = self._open(question_id, "pin")
        changed = [q for q in self._questions.values() if q.pinned and q is not question]
        for other in changed:
            other.pinned = False
        if not question.pinned:
            question.pinned = True
            changed.append(question)
        return changed

    def unpin(self, question_id: str) -> Question:
        question = self._get(question_id)
        if not question.pinned:
            raise InvalidState("question_not_pinned", question=question_id)
        question.pinned = False
        return question

    def dismiss(self, question_id: str) -> Question:
        question = self._get(question_id)
        question.state = QuestionState.DISMISSED
        question.pinned = False
        return question

    # --- a store's view (server/rooms/room_state_codec.py) -----------------------------

    def snapshot(self) -> tuple[int, list[Question]]:
        """Its sequence number and every question kept, for a store to save."""
        return self._seq, list(self._questions.values())

    def restore(self, seq: int, questions: list[Question]) -> None:
        """Take back what ``snapshot`` gave (a store loading a saved board)."""
        self._seq = seq
        self._questions = {q.question_id: q for q in questions}

    # --- reading --------------------------------------------------------------------

    def get(self, question_id: str) -> Question | None:
        return self._questions.get(question_id)

    def ordered(self) -> list[Question]:
        """Open questions by votes then time, then answered ones; dismissed are left out."""
        shown = [q for q in self._questions.values() if q.state is not QuestionState.DISMISSED]
        return sorted(shown, key=Question.sort_key)

    def _get(self, question_id: str) -> Question:
        question = self._questions.get(question_id)
        if question is None or question.state is QuestionState.DISMISSED:
            raise ItemNotFound("question", question_id)
        return question

    def _open(self, question_id: str, action: str) -> Question:
        question = self._get(question_id)
        if question.state is not QuestionState.OPEN:
            raise InvalidState(
                "question_not_open", question.state.value, question=question_id, done=action
            )
        return question
