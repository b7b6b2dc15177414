"""Refusals of the rewards features (coupons, draws, quizzes, check-ins, points).

A ``RewardError`` carries a stable ``code`` and the parameters its sentence needs; it
composes no sentence. The edges render it (``server/rewards_text.py``): the socket, the
REST API and the CLI say the same thing in the same words.
"""

from __future__ import annotations

from typing import Any

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
        "unavailable",
    }
)


class RewardError(RoomError):
    """A refused rewards action: ``code`` for programs, ``params`` for the sentence."""

    def __init__(self, code: str, **params: Any) -> None:
        if code not in CODES:  # pragma: no cover - a programming error
            raise ValueError(f"unknown reward error code {code!r}")
        super().__init__(code)
        self.code = code
        self.params = params
