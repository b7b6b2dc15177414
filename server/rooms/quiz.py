"""Quizzes for prizes: the question, its countdown and its results. Pure.

The host asks a multiple-choice question with a countdown of 5 to 60 seconds and a prize
(a coupon, or points shared by the correct answers). Members answer once each; the
server's clock decides what is in time (``Quiz.open_at``), the store keeps one answer
per member atomically. After the countdown ``results`` says, for everyone at once, how
many chose each option, which was right, who won and what each winner gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.rooms.reward_errors import RewardError

MIN_SECONDS = 5
MAX_SECONDS = 60
MIN_OPTIONS = 2
MAX_OPTIONS = 6
MAX_QUESTION = 200
MAX_OPTION = 80
MAX_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Quiz:
    quiz_id: str
    question: str
    options: tuple[str, ...]
    correct: int
    opened_ms: int
    deadline_ms: int
    coupon: str | None  # each correct answer claims one of this coupon
    points: int  # or: this many points shared by the correct answers

    def open_at(self, now_ms: int) -> bool:
        return now_ms < self.deadline_ms

    def check_answer(self, option: int, now_ms: int) -> None:
        if not self.open_at(now_ms):
            raise RewardError("quiz_closed", quiz=self.quiz_id)
        if not 0 <= option < len(self.options):
            raise RewardError("bad_option", count=len(self.options))

    def public_json(self, now_ms: int) -> dict[str, Any]:
        """What members see while it runs (never the right answer)."""
        return {
            "id": self.quiz_id,
            "question": self.question,
            "options": list(self.options),
            "seconds_left": max(0.0, round((self.deadline_ms - now_ms) / 1000, 1)),
            "prize": self.prize_json(),
        }

    def prize_json(self) -> dict[str, Any]:
        return {"coupon": self.coupon} if self.coupon else {"points": self.points}


def make_quiz(
    quiz_id: str,
    question: str,
    options: tuple[str, ...],
    correct: int,
    seconds: int,
    now_ms: int,
    coupon: str | None,
    points: int,
) -> Quiz:
    """A quiz opening at ``now_ms``; ``RewardError`` names the first bad field."""
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise RewardError(
            "invalid", field="options", rule=f"must hold {MIN_OPTIONS} to {MAX_OPTIONS} answers"
        )
    if len(set(options)) != len(options):
        raise RewardError("invalid", field="options", rule="must not repeat an answer")
    if not 0 <= correct < len(options):
        raise RewardError("invalid", field="correct", rule="must be the index of one answer")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise RewardError(
            "invalid", field="seconds", rule=f"must be from {MIN_SECONDS} to {MAX_SECONDS}"
        )
    if (coupon is None) == (points <= 0):
        raise RewardError("invalid", field="prize", rule="must be a coupon or some points")
    return Quiz(
        quiz_id, question, options, correct, now_ms, now_ms + seconds * 1000, coupon, points
    )


@dataclass(frozen=True, slots=True)
class QuizResult:
    counts: tuple[int, ...]
    correct_members: tuple[str, ...]  # in the order they answered
    share: int  # points each correct answer gets (0 for a coupon prize)
    answered: int

    def public_json(self, quiz: Quiz) -> dict[str, Any]:
        return {
            "id": quiz.quiz_id,
            "question": quiz.question,
            "options": list(quiz.options),
            "correct": quiz.correct,
            "counts": list(self.counts),
            "answered": self.answered,
            "winners": len(self.correct_members),
            "prize": quiz.prize_json(),
            "share": self.share,
        }


def results(quiz: Quiz, answers: Mapping[str, tuple[int, int]]) -> QuizResult:
    """``answers``: member id -> (option, answered at ms), as the store kept them."""
    counts = [0] * len(quiz.options)
    right: list[tuple[int, str]] = []
    for member, (option, at_ms) in answers.items():
        if 0 <= option < len(counts) and at_ms < quiz.deadline_ms:
            counts[option] += 1
            if option == quiz.correct:
                right.append((at_ms, member))
    right.sort()
    winners = tuple(member for _, member in right)
    share = quiz.points // len(winners) if winners and not quiz.coupon else 0
    return QuizResult(tuple(counts), winners, share, sum(counts))
