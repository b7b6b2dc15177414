"""Client messages of the rewards feature: frozen dataclasses and their parsers.

Coupon drops and claims, lucky draws, quizzes, check-ins, points redemption and a
member's own rewards state (see docs/protocol.md, "Rewards"). ``PARSERS`` is merged into
``messages.FEATURE_PARSERS``. Parsers check shape only (every text through
``server.text``); who may send what is ``server.rooms.rewards``' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.rooms import draws, quiz
from server.signaling.fields import ProtocolError, boolean, choice, identifier, integer, invalid
from server.signaling.message_shapes import Parser, RefOnly, bare
from server.text import TextError, clean_label, clean_text


@dataclass(frozen=True, slots=True)
class CouponDrop:
    coupon: str
    ref: str | None = None
    type: Literal["coupon_drop"] = "coupon_drop"


@dataclass(frozen=True, slots=True)
class CouponEnd(RefOnly):
    type: Literal["coupon_end"] = "coupon_end"


@dataclass(frozen=True, slots=True)
class CouponClaim:
    drop: str
    ref: str | None = None
    type: Literal["coupon_claim"] = "coupon_claim"


@dataclass(frozen=True, slots=True)
class DrawRun:
    condition: str
    winners: int
    minutes: int = 0
    weighted: bool = False
    coupon: str | None = None
    note: str | None = None
    ref: str | None = None
    type: Literal["draw_run"] = "draw_run"


@dataclass(frozen=True, slots=True)
class QuizAsk:
    question: str
    options: tuple[str, ...]
    correct: int
    seconds: int
    coupon: str | None = None
    points: int = 0
    ref: str | None = None
    type: Literal["quiz_ask"] = "quiz_ask"


@dataclass(frozen=True, slots=True)
class QuizAnswer:
    quiz: str
    option: int
    ref: str | None = None
    type: Literal["quiz_answer"] = "quiz_answer"


@dataclass(frozen=True, slots=True)
class CheckIn(RefOnly):
    type: Literal["checkin"] = "checkin"


@dataclass(frozen=True, slots=True)
class PointsRedeem:
    reward: str
    ref: str | None = None
    type: Literal["points_redeem"] = "points_redeem"


@dataclass(frozen=True, slots=True)
class RewardsMe(RefOnly):
    type: Literal["rewards_me"] = "rewards_me"


RewardMessage = (
    CouponDrop
    | CouponEnd
    | CouponClaim
    | DrawRun
    | QuizAsk
    | QuizAnswer
    | CheckIn
    | PointsRedeem
    | RewardsMe
)
MESSAGE_TYPES: tuple[type, ...] = (
    CouponDrop,
    CouponEnd,
    CouponClaim,
    DrawRun,
    QuizAsk,
    QuizAnswer,
    CheckIn,
    PointsRedeem,
    RewardsMe,
)


def _text(obj: dict[str, Any], key: str, limit: int, ref: str | None, label: bool = False) -> str:
    try:
        if label:
            return clean_label(obj.get(key), key, limit)
        return clean_text(obj.get(key), key, limit)
    except TextError as exc:
        raise ProtocolError("invalid_field", exc.sentence(), ref) from None


def _optional_id(obj: dict[str, Any], key: str, ref: str | None) -> str | None:
    return None if obj.get(key) is None else identifier(obj, key, ref)


def _draw(obj: dict[str, Any], ref: str | None) -> DrawRun:
    condition = choice(obj, "condition", tuple(c.value for c in draws.Condition), ref)
    minutes = integer(obj, "minutes", 1, draws.MAX_MINUTES, ref) if "minutes" in obj else 0
    note = None if obj.get("note") is None else _text(obj, "note", draws.MAX_NOTE, ref)
    return DrawRun(
        condition=condition,
        winners=integer(obj, "winners", 1, draws.MAX_WINNERS, ref),
        minutes=minutes,
        weighted=boolean(obj, "weighted", ref) if "weighted" in obj else False,
        coupon=_optional_id(obj, "coupon", ref),
        note=note,
        ref=ref,
    )


def _quiz(obj: dict[str, Any], ref: str | None) -> QuizAsk:
    raw = obj.get("options")
    if not isinstance(raw, list | tuple) or not quiz.MIN_OPTIONS <= len(raw) <= quiz.MAX_OPTIONS:
        raise invalid(
            f"'options' must be a list of {quiz.MIN_OPTIONS} to {quiz.MAX_OPTIONS} answers.", ref
        )
    options = tuple(_text({"option": o}, "option", quiz.MAX_OPTION, ref) for o in raw)
    points = integer(obj, "points", 1, quiz.MAX_POINTS, ref) if "points" in obj else 0
    return QuizAsk(
        question=_text(obj, "question", quiz.MAX_QUESTION, ref),
        options=options,
        correct=integer(obj, "correct", 0, len(options) - 1, ref),
        seconds=integer(obj, "seconds", quiz.MIN_SECONDS, quiz.MAX_SECONDS, ref),
        coupon=_optional_id(obj, "coupon", ref),
        points=points,
        ref=ref,
    )


PARSERS: dict[str, Parser[RewardMessage]] = {
    "coupon_drop": lambda o, r: CouponDrop(coupon=identifier(o, "coupon", r), ref=r),
    "coupon_end": bare(CouponEnd),
    "coupon_claim": lambda o, r: CouponClaim(drop=identifier(o, "drop", r), ref=r),
    "draw_run": _draw,
    "quiz_ask": _quiz,
    "quiz_answer": lambda o, r: QuizAnswer(
        quiz=identifier(o, "quiz", r),
        option=integer(o, "option", 0, quiz.MAX_OPTIONS - 1, r),
        ref=r,
    ),
    "checkin": bare(CheckIn),
    "points_redeem": lambda o, r: PointsRedeem(reward=identifier(o, "reward", r), ref=r),
    "rewards_me": bare(RewardsMe),
}
