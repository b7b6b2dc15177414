"""Reward point rules: the ``[reward_points]`` section of the tier rules file. Pure.

Reward points are a member's balance to redeem for perks (a coupon), a ledger of its
own (``server.rooms.reward_store``), separate from the engagement score that moves tiers.
This module reads its section of the same file that ``server.engagement.rules`` reads
(each loader checks only its own section) and holds the pure rules: what a check-in on
a given UTC day is worth with its streak, what a purchase is worth.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from server.engagement.rules import DEFAULT_RULES_FILE, RulesError

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class PointRules:
    checkin: int = 10
    streak_bonus: int = 2
    streak_bonus_cap: int = 20
    attendance: int = 5
    attendance_minutes: int = 10
    quiz_answer: int = 2
    purchase_per_unit: int = 1

    def checkin_points(self, streak: int) -> int:
        """A check-in on day ``streak`` of an unbroken run (1 for the first day)."""
        bonus = min(self.streak_bonus * max(0, streak - 1), self.streak_bonus_cap)
        return self.checkin + bonus

    def purchase_points(self, amount: str) -> int:
        """Points for a purchase of ``amount`` (a decimal string in the major unit)."""
        return int(Decimal(amount)) * self.purchase_per_unit


def parse_point_rules(data: Mapping[str, Any], source: str = "(given)") -> PointRules:
    table = data.get("reward_points", {})
    if not isinstance(table, dict):
        raise RulesError(f"{source}: [reward_points] must be a table")
    known = {f.name for f in fields(PointRules)}
    for key, value in table.items():
        if key not in known:
            raise RulesError(f"{source}: unknown key {key!r} in [reward_points]")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
            raise RulesError(f"{source}: reward_points.{key} must be a whole number 0-1000000")
    return PointRules(**table)


def load_point_rules(path: str | Path | None = None) -> PointRules:
    """Read ``[reward_points]`` of a rules file (the shipped defaults when ``path`` is empty)."""
    where = Path(path) if path else DEFAULT_RULES_FILE
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"cannot read tier rules {where}: {exc}") from None
    return parse_point_rules(data, str(where))


def day_number(ts_ms: int) -> int:
    """The UTC day of ``ts_ms`` as days since 1970-01-01 (check-ins count in UTC days)."""
    return ts_ms // DAY_MS


def day_text(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
