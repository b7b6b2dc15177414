"""Lucky draws: who is eligible, and a seeded, auditable choice of winners. Pure.

The host draws N winners among the room session's attendees who meet a condition
(present now, chatted, asked a question, voted in a poll, watched at least M minutes),
optionally weighted by tier. The eligible list is sorted and the choice is a function
of that list, the seed and the weights only, so an operator can rerun ``draw`` with the
stored audit record and get the same winners (``verify``).

Weighted sampling without replacement is Efraimidis–Spirakis: each entrant gets the key
``u ** (1 / weight)`` with ``u`` uniform in (0, 1) from ``random.Random(seed)``; the N
largest keys win. With equal weights every subset of N is equally likely.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from server.engagement.members import Tier
from server.rooms.reward_errors import RewardError

MAX_WINNERS = 100
MAX_MINUTES = 600
MAX_NOTE = 140


class Condition(StrEnum):
    PRESENT = "present"
    CHATTED = "chatted"
    ASKED = "asked"
    VOTED = "voted"
    WATCHED = "watched"


# Default weights when the host asks for tier weighting.
TIER_WEIGHTS: dict[str, float] = {
    Tier.CORE.value: 4.0,
    Tier.ACTIVE.value: 3.0,
    Tier.POTENTIAL.value: 2.0,
    Tier.SILENT.value: 1.0,
}


@dataclass(frozen=True, slots=True)
class Entrant:
    member_id: str
    tier: str  # "" when unknown


@dataclass(frozen=True, slots=True)
class SessionActivity:
    """What the room session knows about its attendees (for the draw's condition)."""

    present: Mapping[str, str]  # member id -> tier, members in the room now (no staff)
    tiers: Mapping[str, str]  # member id -> tier, everyone seen this session (no staff)
    chatted: Collection[str]
    asked: Collection[str]
    voted: Collection[str]
    watched_seconds: Mapping[str, float]


def eligible(condition: Condition, minutes: int, activity: SessionActivity) -> list[Entrant]:
    """The entrants meeting ``condition``, sorted by member id."""
    members: Collection[str]
    if condition is Condition.PRESENT:
        members = activity.present
    elif condition is Condition.CHATTED:
        members = activity.chatted
    elif condition is Condition.ASKED:
        members = activity.asked
    elif condition is Condition.VOTED:
        members = activity.voted
    else:
        need = minutes * 60.0
        members = [m for m, s in activity.watched_seconds.items() if s >= need]
    return [
        Entrant(m, activity.tiers.get(m, activity.present.get(m, "")))
        for m in sorted(set(members))
        if m in activity.tiers or m in activity.present
    ]


def draw(
    entrants: list[Entrant], winners: int, seed: str, weights: Mapping[str, float] | None
) -> list[str]:
    """``winners`` member ids chosen among ``entrants`` (all of them if fewer)."""
    rng = random.Random(seed)
    keyed: list[tuple[float, str]] = []
    for entrant in entrants:
        weight = weights.get(entrant.tier, 1.0) if weights else 1.0
        u = rng.random() or 1e-300
        keyed.append((u ** (1.0 / weight), entrant.member_id))
    keyed.sort(reverse=True)
    return [member for _, member in keyed[:winners]]


@dataclass(frozen=True, slots=True)
class DrawRequest:
    condition: Condition
    minutes: int
    winners: int
    weighted: bool
    coupon: str | None
    note: str | None

    def describe(self) -> str:
        if self.condition is Condition.WATCHED:
            return f"watched {self.minutes}+ min"
        return self.condition.value


def audit_record(
    draw_id: str,
    request: DrawRequest,
    entrants: list[Entrant],
    seed: str,
    winners: list[str],
    at_ms: int,
) -> dict[str, Any]:
    """What is kept for operators: enough to rerun the draw and check its winners."""
    return {
        "id": draw_id,
        "at_ms": at_ms,
        "condition": request.condition.value,
        "minutes": request.minutes,
        "weighted": request.weighted,
        "weights": TIER_WEIGHTS if request.weighted else None,
        "eligible": [{"member_id": e.member_id, "tier": e.tier} for e in entrants],
        "seed": seed,
        "winners": winners,
        "coupon": request.coupon,
        "note": request.note,
    }


def verify(record: Mapping[str, Any]) -> bool:
    """True when ``record``'s winners follow from its eligible list, seed and weights."""
    entrants = [Entrant(e["member_id"], e.get("tier", "")) for e in record["eligible"]]
    weights = record.get("weights")
    again = draw(entrants, len(record["winners"]), record["seed"], weights)
    return again == list(record["winners"])


def check_request(request: DrawRequest) -> None:
    if not 1 <= request.winners <= MAX_WINNERS:
        raise RewardError("invalid", field="winners", rule=f"must be from 1 to {MAX_WINNERS}")
    if request.condition is Condition.WATCHED and not 1 <= request.minutes <= MAX_MINUTES:
        raise RewardError("invalid", field="minutes", rule=f"must be from 1 to {MAX_MINUTES}")
    if request.coupon is None and request.note is None:
        raise RewardError("invalid", field="prize", rule="must be a coupon or a prize note")
