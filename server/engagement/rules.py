"""The tier rules: points, daily caps, decay and tier conditions, read from a TOML file.

This module owns the rules' shape and their validation, nothing else: ``load_rules``
reads a file (the shipped ``tiers.toml`` when none is named) into a frozen ``Rules``.
The file is complete on its own: a point or cap it leaves out is 0 (no cap), a tier
condition it leaves out does not apply. Every unknown key or unusable value raises
``RulesError`` naming it, so a typo stops start-up instead of silently scoring nothing.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from server.engagement.events import EXTERNAL_ACTIONS, EventKind
from server.engagement.members import Tier
from server.settings import SettingsError

DEFAULT_RULES_FILE: Final = Path(__file__).with_name("tiers.toml")
DAY_MS: Final = 24 * 3600 * 1000

# Kinds worth a flat number of points per event; leave, stage and external are special.
FLAT_KINDS: Final = tuple(
    k.value
    for k in EventKind
    if k not in (EventKind.LEAVE, EventKind.STAGE_SECONDS, EventKind.EXTERNAL)
)
POINT_KEYS: Final = (*FLAT_KINDS, "watch_minute", "stage_minute", *EXTERNAL_ACTIONS)
# Per kind, and "total": every kind's points together.
CAP_KEYS: Final = (*(k.value for k in EventKind), "total")
CONDITION_KEYS: Final = (
    "min_orders",
    "min_repurchases",
    "min_score",
    "min_shares",
    "min_ltv",
    "max_days_since_order",
    "min_orders_in_window",
    "min_value_in_window",
)
AT_RISK_KEYS: Final = ("min_orders_in_window", "overdue_factor", "min_overdue_days", "idle_days")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class RulesError(SettingsError):
    """The rules file is unreadable or says something Salon cannot use."""


@dataclass(frozen=True, slots=True)
class TierRule:
    """What a member needs for one tier; zero means the condition does not apply."""

    tier: Tier
    min_orders: int = 0
    min_repurchases: int = 0
    min_score: float = 0.0
    min_shares: int = 0
    min_ltv_minor: int = 0
    max_days_since_order: float = 0.0
    # Orders and their value within ``Rules.order_window_days`` (lifetime counts never
    # expire: a window keeps old orders from holding a tier for ever).
    min_orders_in_window: int = 0
    min_value_in_window_minor: int = 0


@dataclass(frozen=True, slots=True)
class AtRiskRule:
    """Who is flagged at risk: a valuable member (at least ``min_orders_in_window``
    orders in the window) who is overdue — their last order is older than
    ``overdue_factor`` times their usual interval between orders (and at least
    ``min_overdue_days``) — or who has not shown up for ``idle_days``. 0 turns a part off."""

    min_orders_in_window: int = 2
    overdue_factor: float = 2.0
    min_overdue_days: float = 30.0
    idle_days: float = 21.0


@dataclass(frozen=True, slots=True)
class Rules:
    currency: str = "EUR"
    half_life_days: float = 30.0
    early_leave_seconds: float = 120.0
    points: Mapping[str, float] = field(default_factory=dict)
    daily_cap: Mapping[str, float] = field(default_factory=dict)
    repurchase_window_days: float = 90.0
    # Days without interaction or purchase after which a member is silent; 0: never.
    silent_after_days: float = 0.0
    core: TierRule = field(default_factory=lambda: TierRule(Tier.CORE))
    active: TierRule = field(default_factory=lambda: TierRule(Tier.ACTIVE))
    source: str = "(built in)"
    # Value of one unit of another currency in ``currency`` (the brand's).
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    # A new order earns ``points.purchase`` plus this many points per unit of its value.
    purchase_points_per_unit: float = 0.0
    # The window of ``min_orders_in_window`` and ``min_value_in_window`` (days).
    order_window_days: float = 365.0
    at_risk: AtRiskRule = field(default_factory=AtRiskRule)

    @property
    def daily_total_cap(self) -> float:
        return self.daily_cap.get("total", 0.0)

    @property
    def order_window_ms(self) -> float:
        return self.order_window_days * DAY_MS

    def rate(self, currency: str) -> Decimal | None:
        """What one unit of ``currency`` is worth in the rules' currency (None: unknown)."""
        if currency == self.currency:
            return Decimal(1)
        return self.rates.get(currency)

    @property
    def half_life_ms(self) -> float:
        return self.half_life_days * DAY_MS

    @property
    def repurchase_window_ms(self) -> float:
        return self.repurchase_window_days * DAY_MS

    def point(self, key: str) -> float:
        return self.points.get(key, 0.0)

    def cap(self, kind: EventKind) -> float:
        return self.daily_cap.get(kind.value, 0.0)


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and check a rules file (the shipped defaults when ``path`` is empty)."""
    where = Path(path) if path else DEFAULT_RULES_FILE
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"cannot read tier rules {where}: {exc}") from None
    return parse_rules(data, str(where))


def parse_rules(data: Mapping[str, Any], source: str = "(given)") -> Rules:
    """Check parsed TOML and build ``Rules``; ``RulesError`` names the first problem."""
    top = dict(data)
    _unknown(
        top,
        (
            "currency",
            "half_life_days",
            "early_leave_seconds",
            "points",
            "daily_cap",
            "purchase",
            "tiers",
            # Reward points (a separate ledger): read by server/engagement/reward_points.py.
            "reward_points",
            "currency_rates",
            "at_risk",
        ),
        source,
        "the top level",
    )
    currency = top.get("currency", "EUR")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise RulesError(f"{source}: currency {currency!r} must be an ISO 4217 code like EUR")
    half_life = _number(top.get("half_life_days", 30.0), "half_life_days", source)
    if half_life <= 0:
        raise RulesError(f"{source}: half_life_days must be above 0")
    points = _numbers(_table(top, "points", source), POINT_KEYS, source, "points")
    caps = _numbers(_table(top, "daily_cap", source), CAP_KEYS, source, "daily_cap")
    purchase = _table(top, "purchase", source)
    _unknown(
        purchase,
        ("repurchase_window_days", "points_per_unit", "window_days"),
        source,
        "[purchase]",
    )
    window = _number(purchase.get("repurchase_window_days", 90), "repurchase_window_days", source)
    rates = _rates(_table(top, "currency_rates", source), currency, source)
    risk = _table(top, "at_risk", source)
    _unknown(risk, AT_RISK_KEYS, source, "[at_risk]")
    tiers = _table(top, "tiers", source)
    _unknown(tiers, tuple(t.value for t in Tier), source, "[tiers]")
    silent = _table(tiers, "silent", source)
    _unknown(silent, ("inactive_days",), source, "[tiers.silent]")
    potential = _table(tiers, "potential", source)
    _unknown(potential, (), source, "[tiers.potential] (everyone else: it has no conditions)")
    return Rules(
        currency=currency,
        half_life_days=half_life,
        early_leave_seconds=_number(
            top.get("early_leave_seconds", 120), "early_leave_seconds", source
        ),
        points=points,
        daily_cap=caps,
        repurchase_window_days=window,
        silent_after_days=_number(silent.get("inactive_days", 0), "inactive_days", source),
        core=_tier_rule(Tier.CORE, _table(tiers, "core", source), source),
        active=_tier_rule(Tier.ACTIVE, _table(tiers, "active", source), source),
        source=source,
        rates=rates,
        purchase_points_per_unit=_number(
            purchase.get("points_per_unit", 0.0), "points_per_unit", source
        ),
        order_window_days=_number(purchase.get("window_days", 365), "window_days", source),
        at_risk=AtRiskRule(
            min_orders_in_window=_whole(
                risk.get("min_orders_in_window", 2), "[at_risk] min_orders_in_window", source
            ),
            overdue_factor=_number(risk.get("overdue_factor", 2.0), "overdue_factor", source),
            min_overdue_days=_number(risk.get("min_overdue_days", 30), "min_overdue_days", source),
            idle_days=_number(risk.get("idle_days", 21), "idle_days", source),
        ),
    )


def _rates(table: Mapping[str, Any], currency: str, source: str) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for code, value in table.items():
        if not _CURRENCY.fullmatch(code) or code == currency:
            raise RulesError(
                f"{source}: [currency_rates] {code!r} must be an ISO 4217 code other than "
                f"{currency}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise RulesError(f"{source}: [currency_rates] {code} must be a number")
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            raise RulesError(f"{source}: [currency_rates] {code} must be a number") from None
        if not rate.is_finite() or rate <= 0:
            raise RulesError(f"{source}: [currency_rates] {code} must be above 0")
        rates[code] = rate
    return rates


def _tier_rule(tier: Tier, table: Mapping[str, Any], source: str) -> TierRule:
    where = f"[tiers.{tier.value}]"
    _unknown(table, CONDITION_KEYS, source, where)
    return TierRule(
        tier=tier,
        min_orders=_whole(table.get("min_orders", 0), f"{where} min_orders", source),
        min_repurchases=_whole(table.get("min_repurchases", 0), f"{where} min_repurchases", source),
        min_score=_number(table.get("min_score", 0.0), f"{where} min_score", source),
        min_shares=_whole(table.get("min_shares", 0), f"{where} min_shares", source),
        min_ltv_minor=_amount(table, "min_ltv", where, source),
        max_days_since_order=_number(
            table.get("max_days_since_order", 0.0), f"{where} max_days_since_order", source
        ),
        min_orders_in_window=_whole(
            table.get("min_orders_in_window", 0), f"{where} min_orders_in_window", source
        ),
        min_value_in_window_minor=_amount(table, "min_value_in_window", where, source),
    )


def _amount(table: Mapping[str, Any], key: str, where: str, source: str) -> int:
    """A money threshold (``"500.00"`` or a number) in minor units."""
    value = table.get(key, "0")
    try:
        minor = int(Decimal(str(value)) * 100)
    except (InvalidOperation, ValueError):
        raise RulesError(f"{source}: {where} {key} {value!r} is not a decimal amount") from None
    if isinstance(value, bool) or minor < 0:
        raise RulesError(f"{source}: {where} {key} must be a non-negative amount")
    return minor


def _table(parent: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    value = parent.get(name, {})
    if not isinstance(value, dict):
        raise RulesError(f"{source}: {name} must be a table ([{name}])")
    return value


def _unknown(table: Mapping[str, Any], known: tuple[str, ...], source: str, where: str) -> None:
    for key in table:
        if key not in known:
            raise RulesError(f"{source}: unknown key {key!r} in {where}")


def _number(value: Any, name: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(f"{source}: {name} must be a number (got {value!r})")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise RulesError(f"{source}: {name} must be a finite number of at least 0")
    return number


def _whole(value: Any, name: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RulesError(f"{source}: {name} must be a whole number of at least 0")
    return value


def _numbers(
    table: Mapping[str, Any], known: tuple[str, ...], source: str, where: str
) -> dict[str, float]:
    _unknown(table, known, source, f"[{where}]")
    return {key: _number(value, f"{where}.{key}", source) for key, value in table.items()}
