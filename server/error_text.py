"""The sentences of the rewards refusals, rendered at the edges (socket, REST, CLI).

``render(code, params)`` turns a ``RewardError``'s code and parameters into English;
this is the one place those sentences live (a catalog for other languages would sit
beside it). Unknown parameters are ignored; a missing one renders as ``?``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.rooms.reward_errors import RewardError

SENTENCES: dict[str, str] = {
    "not_eligible": "This offer is for {tiers} members; your membership tier is {tier}.",
    "staff": "Hosts and co-hosts run rewards; they cannot {action} themselves.",
    "expired": "This coupon has expired.",
    "sold_out": "All of these coupons have been claimed.",
    "claim_limit": "You have already claimed this coupon ({limit} per member).",
    "no_drop": "That offer is no longer available in this room.",
    "no_coupon": "There is no coupon '{coupon}'.",
    "no_code": "That coupon code does not exist.",
    "not_your_code": "That coupon code belongs to another member.",
    "already_redeemed": "That coupon code was already used (order {order}).",
    "code_expired": "That coupon code has expired.",
    "drop_running": "An offer is already running in this room: end it first.",
    "quiz_running": "A quiz is already running in this room: wait for its results.",
    "no_quiz": "There is no open quiz '{quiz}' in this room.",
    "quiz_closed": "Time is up: this quiz takes no more answers.",
    "already_answered": "You have already answered this quiz.",
    "bad_option": "Pick one of the {count} answers.",
    "already_checked_in": "You have already checked in today (streak: {streak} days).",
    "not_enough_points": "This reward costs {cost} points; your balance is {balance}.",
    "no_reward": "There is no reward '{reward}'.",
    "nobody_eligible": "Nobody meets the draw's condition ({condition}) yet.",
    "invalid": "'{field}' {rule}.",
    "unavailable": "Rewards cannot be reached right now: please try again in a moment.",
}


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(value: Any) -> Any:
    if isinstance(value, list | tuple):
        words = [str(v) for v in value]
        if not words:
            return "invited"
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return value


def render(code: str, params: Mapping[str, Any]) -> str:
    template = SENTENCES.get(code, "This rewards action was refused.")
    return template.format_map(_Defaulting({k: _shown(v) for k, v in params.items()}))


def sentence(error: RewardError) -> str:
    return render(error.code, error.params)
