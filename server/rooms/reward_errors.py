"""Refusals of the rewards features (coupons, draws, quizzes, check-ins, points).

A ``RewardError`` carries a stable ``code`` and the parameters its sentence needs; it
composes no sentence. The edges render it (``server/error_text.py``): the socket, the
REST API and the CLI say the same thing in the same words. It is a ``RoomError`` like any
other: one mechanism, one catalog.
"""

from __future__ import annotations

from typing import Any, ClassVar

from server.rooms.errors import RoomError

# Every code a RewardError may carry (the edges' sentence table covers each of them).
CODES = frozenset(
    {
        "not_eligible",  # tiers, tier
        "staff",  # action
        "expired",  # coupon
        "sold_out",  # coupon
        "claim_limit",  # limit
        "no_drop",  # drop
        "no_coupon",  # coupon
        "no_code",
        "not_your_code",
        "already_redeemed",  # order
        "code_expired",
        "drop_running",  # drop
        "quiz_running",
        "no_quiz",  # quiz
        "quiz_closed",
        "already_answered",
        "bad_option",  # count
        "already_checked_in",  # streak
        "not_enough_points",  # balance, cost
        "no_reward",  # reward
        "nobody_eligible",  # condition
        "invalid",  # field, rule
        "unavailable",  # case: rewards (beside the rooms' own "unavailable")
    }
)


class RewardError(RoomError):
    """A refused rewards action: ``code`` for programs, ``params`` for the sentence."""

    codes: ClassVar[dict[str, frozenset[str]]] = {
        code: frozenset({"rewards"} if code == "unavailable" else ()) for code in CODES
    }

    def __init__(self, code: str, **params: Any) -> None:
        if code == "unavailable":
            params.setdefault("case", "rewards")
        super().__init__(code, **params)
