"""Rewards in a room: who may do what, and the coupon rules that need no I/O.

Like ``server.rooms.stage``: an ``Action`` enum, an ``ALLOWED`` table the unit tests check
in full, and pure checks that raise a ``RewardError`` (or ``Forbidden``) and change
nothing. Counting (stock, per-member limits, one answer per member, points exactly once)
is atomic in Redis (``server.rooms.reward_store``); everything decidable from the
coupon's definition, the member's tier and the clock is decided here.

A *coupon* is an operator's offer (code pattern, value, eligible tiers, stock, limit per
member, expiry). A *drop* is one coupon offered in one room session by a host; claims and
redemptions are counted per drop, so a purchase is attributed to the drop whose code it
used.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from server.engagement.members import TIER_NAMES, Tier
from server.ids import is_valid_id
from server.rooms.errors import Forbidden
from server.rooms.model import Role
from server.rooms.moderation import MODERATORS
from server.rooms.reward_errors import RewardError
from server.text import clean_label

MEMBERS = frozenset({Role.MEMBER, Role.SPEAKER})


class Action(StrEnum):
    """Every rewards action, as the code a ``Forbidden`` carries (the catalogs say it in words)."""

    DROP_COUPON = "drop_coupon"
    END_DROP = "end_drop"
    CLAIM_COUPON = "claim_coupon"
    RUN_DRAW = "run_draw"
    ASK_QUIZ = "ask_quiz"
    ANSWER_QUIZ = "answer_quiz"
    CHECK_IN = "check_in"
    REDEEM_POINTS = "redeem_points"


# Which roles may attempt each action. Staff (host, co-host) run rewards and never win
# them; speakers are members on stage and keep their member's rights.
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.DROP_COUPON: MODERATORS,
    Action.END_DROP: MODERATORS,
    Action.CLAIM_COUPON: MEMBERS,
    Action.RUN_DRAW: MODERATORS,
    Action.ASK_QUIZ: MODERATORS,
    Action.ANSWER_QUIZ: MEMBERS,
    Action.CHECK_IN: MEMBERS,
    Action.REDEEM_POINTS: MEMBERS,
}


def check(action: Action, actor: Role) -> None:
    """Raise ``Forbidden`` unless ``actor``'s role may attempt ``action``."""
    if actor not in ALLOWED[action]:
        raise Forbidden(action.value, actor.value)


# --- coupons -------------------------------------------------------------------------

MAX_TITLE = 80
MAX_PATTERN = 32
MAX_COUNT = 1_000_000
MAX_PER_MEMBER = 100
MAX_VALUE = Decimal("1000000")
# Characters a code's '#' becomes: no 0/O or 1/I/L to misread when typed at a checkout.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_PATTERN = re.compile(r"^[A-Z0-9#-]{1,32}$")
_CODE = re.compile(r"^[A-Z0-9-]{4,32}$")
_AMOUNT = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,2})?$")
MIN_RANDOM = 6  # '#' a pattern needs: 31**6 ≈ 887 million codes


@dataclass(frozen=True, slots=True)
class CouponSpec:
    """An operator's coupon definition."""

    coupon_id: str
    title: str
    pattern: str  # e.g. "SPRING-######": each '#' a random character
    value: str  # amount off, a decimal string in the rules' currency ("10.00")
    tiers: tuple[Tier, ...]  # eligible tiers; empty: every member
    count: int  # stock: at most this many claims in all
    per_member: int = 1
    expires_ms: int = 0  # 0: never

    @property
    def value_minor(self) -> int:
        return int(Decimal(self.value) * 100)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.coupon_id,
            "title": self.title,
            "pattern": self.pattern,
            "value": self.value,
            "tiers": [t.value for t in self.tiers],
            "count": self.count,
            "per_member": self.per_member,
            "expires_ms": self.expires_ms,
        }


def _bad(field: str, rule: str) -> RewardError:
    return RewardError("invalid", field=field, rule=rule)


def _whole(data: dict[str, Any], key: str, low: int, high: int, default: int | None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(key, f"must be a whole number from {low} to {high}")
    return value


def _amount(value: Any) -> str:
    text = f"{value:f}" if isinstance(value, Decimal) else str(value)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _bad("value", 'must be an amount such as "10.00"')
    if not _AMOUNT.fullmatch(text):
        raise _bad("value", 'must be an amount such as "10.00" (at most two decimals)')
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise _bad("value", 'must be an amount such as "10.00"') from None
    if not 0 < amount <= MAX_VALUE:
        raise _bad("value", f"must be above 0 and at most {MAX_VALUE}")
    return f"{amount:.2f}"


def parse_tiers(value: Any) -> tuple[Tier, ...]:
    """Tiers as a list of names or a comma-separated string; empty means every tier."""
    names = value.split(",") if isinstance(value, str) else value
    if names is None:
        return ()
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise _bad("tiers", f"must be a list of {', '.join(TIER_NAMES)}")
    picked = [n.strip() for n in names if n.strip()]
    for name in picked:
        if name not in TIER_NAMES:
            raise _bad("tiers", f"must name tiers among {', '.join(TIER_NAMES)}")
    return tuple(Tier(n) for n in dict.fromkeys(picked))


def parse_coupon(coupon_id: str, data: dict[str, Any]) -> CouponSpec:
    """A coupon definition from an operator's fields; ``RewardError`` or ``TextError``."""
    if not is_valid_id(coupon_id):
        raise _bad("id", "must be an id (letters, digits, '.', '_', '-')")
    known = {"title", "pattern", "value", "tiers", "count", "per_member", "expires_ms"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _bad(unknown[0][:40], "is not a coupon field")
    title = clean_label(data.get("title"), "title", MAX_TITLE)
    pattern = data.get("pattern", "SALON-########")
    if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
        raise _bad("pattern", "must be capital letters, digits, '-' and '#' (at most 32)")
    if pattern.count("#") < MIN_RANDOM:
        raise _bad("pattern", f"needs at least {MIN_RANDOM} '#' (random characters)")
    return CouponSpec(
        coupon_id=coupon_id,
        title=title,
        pattern=pattern,
        value=_amount(data.get("value")),
        tiers=parse_tiers(data.get("tiers")),
        count=_whole(data, "count", 1, MAX_COUNT, None),
        per_member=_whole(data, "per_member", 1, MAX_PER_MEMBER, 1),
        expires_ms=_whole(data, "expires_ms", 0, 2**53, 0),
    )


def make_code(pattern: str, rng: random.Random) -> str:
    """A code from ``pattern``: each '#' becomes a random character of ``CODE_ALPHABET``."""
    return "".join(rng.choice(CODE_ALPHABET) if c == "#" else c for c in pattern)


def normal_code(value: Any) -> str:
    """A code as a shopper typed it (any case, spaces around), or ``RewardError``."""
    if not isinstance(value, str):
        raise _bad("coupon", "must be a coupon code")
    code = value.strip().upper()
    if not _CODE.fullmatch(code):
        raise _bad("coupon", "must be a coupon code (letters, digits and '-')")
    return code


def check_claim(spec: CouponSpec, role: Role, tier: Tier | None, now_ms: int) -> None:
    """Everything about a claim that the coupon, the member and the clock decide.

    Stock and the per-member limit are counted atomically by the store.
    """
    if role in MODERATORS:
        raise RewardError("staff", action="claim_coupon")
    check(Action.CLAIM_COUPON, role)
    if spec.expires_ms and now_ms >= spec.expires_ms:
        raise RewardError("expired", coupon=spec.coupon_id)
    if spec.tiers and (tier is None or tier not in spec.tiers):
        raise RewardError(
            "not_eligible", tiers=[t.value for t in spec.tiers], tier=tier.value if tier else "none"
        )


def eligibility(spec: CouponSpec, role: Role, tier: Tier | None, now_ms: int) -> RewardError | None:
    """Why this person may not claim (None: they may), for showing before they click."""
    try:
        check_claim(spec, role, tier, now_ms)
    except RewardError as exc:
        return exc
    except Forbidden:
        return RewardError("staff", action="claim_coupon")
    return None
