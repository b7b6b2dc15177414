"""``salon import``: members and order history from CSV files.

Two steps, and the first decides whether there is a second: **check** every row of both
files (pure: ``parse_members``, ``parse_orders``) and stop at the first bad one with its
file, line number and what is wrong, having written nothing; then **write**, with a
progress bar. Every write is idempotent (a member record is set, an order counts once
per order id), so an import cut short by Redis can simply be run again.

``members.csv``: ``member_id`` and optionally ``name``, ``tier``, ``pinned`` (yes/no:
keep the tier as given; default no, scoring takes over from it) and ``since`` (date).
``orders.csv``: ``order_id``, ``member_id``, ``amount`` (``129.90``), ``currency``,
``ordered_at`` (ISO 8601 date or time; UTC when no offset) and optionally ``room_id``.
Orders go through the scorer's own path (``Ledger.apply``), so RFM figures, scores and
tiers come out exactly as if the purchases had been reported live.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Final

from server.engagement.aggregates import Aggregates
from server.engagement.events import (
    SCHEMA_VERSION,
    Event,
    EventKind,
    PurchaseError,
    purchase_data,
)
from server.engagement.ledger import Ledger
from server.engagement.members import MEMBER_INDEX_KEY, TIER_NAMES, MemberStore, Tier
from server.ids import MemberId, is_valid_id
from server.redis_client import RedisClient
from server.text import TextError, clean_label

MAX_NAME: Final = 80
MEMBER_COLUMNS: Final = ("member_id", "name", "tier", "pinned", "since")
ORDER_COLUMNS: Final = ("order_id", "member_id", "amount", "currency", "ordered_at", "room_id")
ORDERS_PER_CALL: Final = 500
YES: Final = {"yes", "y", "true", "1"}
NO: Final = {"no", "n", "false", "0", ""}


class ImportProblem(ValueError):
    """A bad file or row; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class MemberRow:
    line: int
    member_id: MemberId
    name: str | None
    tier: Tier | None
    pinned: bool
    since_ms: int | None


@dataclass(frozen=True, slots=True)
class OrderRow:
    line: int
    order_id: str
    member_id: MemberId
    data: dict[str, str]
    ts_ms: int
    room_id: str

    def event(self) -> Event:
        """The purchase event of this order; its id comes from the order id, so a second
        import of the same file is recognized as the same event."""
        digest = hashlib.sha256(self.order_id.encode()).hexdigest()[:32]
        return Event(
            id=f"import-{digest}",
            v=SCHEMA_VERSION,
            kind=EventKind.PURCHASE,
            room_id=self.room_id,
            member_id=self.member_id,
            ts_ms=self.ts_ms,
            data=dict(self.data, source="import"),
        )


def _rows(
    text: str, source: str, required: tuple[str, ...], known: tuple[str, ...]
) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportProblem(f"{source}: the file is empty (a header line is needed)") from None
    except csv.Error as exc:
        raise ImportProblem(f"{source} line 1: {exc}") from None
    for name in header:
        if name not in known:
            raise ImportProblem(
                f"{source} line 1: unknown column {name!r} (known: {', '.join(known)})"
            )
    for name in required:
        if name not in header:
            raise ImportProblem(f"{source} line 1: the column {name!r} is missing")
    if len(set(header)) != len(header):
        raise ImportProblem(f"{source} line 1: a column appears twice")
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ImportProblem(
                    f"{source} line {line}: {len(row)} fields, but the header has {len(header)}"
                )
            yield line, {h: cell.strip() for h, cell in zip(header, row, strict=True)}
    except csv.Error as exc:
        raise ImportProblem(f"{source} line {reader.line_num}: {exc}") from None


def parse_time(text: str) -> int:
    """Epoch ms of an ISO 8601 date or date-time (UTC unless it says otherwise)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_members(text: str, source: str = "members.csv") -> list[MemberRow]:
    rows: list[MemberRow] = []
    seen: dict[str, int] = {}
    for line, cells in _rows(text, source, ("member_id",), MEMBER_COLUMNS):
        where = f"{source} line {line}"
        member_id = cells["member_id"]
        if not is_valid_id(member_id):
            raise ImportProblem(
                f"{where}: member_id {member_id[:70]!r} must be 1-64 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        if member_id in seen:
            raise ImportProblem(
                f"{where}: member {member_id!r} is already on line {seen[member_id]}"
            )
        seen[member_id] = line
        name = None
        if cells.get("name", "").strip():
            try:
                name = clean_label(cells["name"], "name", MAX_NAME)
            except TextError as exc:
                raise ImportProblem(f"{where}: {exc.sentence()}") from None
        tier_text = cells.get("tier", "").lower()
        if tier_text and tier_text not in TIER_NAMES:
            raise ImportProblem(
                f"{where}: tier {tier_text[:20]!r} must be one of {', '.join(TIER_NAMES)}"
            )
        pinned_text = cells.get("pinned", "").lower()
        if pinned_text not in YES | NO:
            raise ImportProblem(f"{where}: pinned {pinned_text[:10]!r} must be yes or no")
        if pinned_text in YES and not tier_text:
            raise ImportProblem(f"{where}: a pinned member needs a tier")
        since = None
        if cells.get("since"):
            try:
                since = parse_time(cells["since"])
            except ValueError:
                raise ImportProblem(
                    f"{where}: since {cells['since'][:30]!r} is not an ISO date like 2024-05-01"
                ) from None
        rows.append(
            MemberRow(
                line,
                MemberId(member_id),
                name,
                Tier(tier_text) if tier_text else None,
                pinned_text in YES,
                since,
            )
        )
    return rows


def parse_orders(text: str, now_ms: int, source: str = "orders.csv") -> list[OrderRow]:
    rows: list[OrderRow] = []
    seen: dict[str, int] = {}
    required = ("order_id", "member_id", "amount", "currency", "ordered_at")
    for line, cells in _rows(text, source, required, ORDER_COLUMNS):
        where = f"{source} line {line}"
        member_id = cells["member_id"]
        if not is_valid_id(member_id):
            raise ImportProblem(f"{where}: member_id {member_id[:70]!r} is not a valid member id")
        try:
            data = purchase_data(cells["order_id"], cells["amount"], cells["currency"])
        except PurchaseError as exc:
            raise ImportProblem(f"{where}: {exc}") from None
        order_id = data["order_id"]
        if order_id in seen:
            raise ImportProblem(f"{where}: order {order_id!r} is already on line {seen[order_id]}")
        seen[order_id] = line
        try:
            ts = parse_time(cells["ordered_at"])
        except ValueError:
            raise ImportProblem(
                f"{where}: ordered_at {cells['ordered_at'][:30]!r} is not an ISO date or time "
                "like 2024-05-01T14:30:00Z"
            ) from None
        if ts > now_ms + 60_000:
            raise ImportProblem(f"{where}: ordered_at {cells['ordered_at']!r} is in the future")
        room_id = cells.get("room_id", "")
        if room_id and not is_valid_id(room_id):
            raise ImportProblem(f"{where}: room_id {room_id[:70]!r} is not a valid room id")
        rows.append(OrderRow(line, order_id, MemberId(member_id), data, ts, room_id))
    return rows


class Progress:
    """A progress bar on a terminal; a line per tenth elsewhere (logs, pipes)."""

    def __init__(self, label: str, total: int, stream: IO[str] | None = None) -> None:
        self._label = label
        self._total = max(total, 1)
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._done = 0
        self._shown = -1

    def advance(self, count: int) -> None:
        self._done += count
        tenth = self._done * 10 // self._total
        if self._tty:
            filled = self._done * 30 // self._total
            self._stream.write(
                f"\r{self._label:<8} [{'#' * filled}{'.' * (30 - filled)}] "
                f"{self._done}/{self._total}"
            )
            if self._done >= self._total:
                self._stream.write("\n")
        elif tenth != self._shown:
            self._shown = tenth
            self._stream.write(f"{self._label}: {self._done}/{self._total}\n")
        self._stream.flush()


@dataclass(frozen=True, slots=True)
class ImportResult:
    members: int
    orders: int
    new_orders: int
    tier_changes: int


async def check_order_members(
    redis: RedisClient, orders: list[OrderRow], members: list[MemberRow], source: str
) -> None:
    """Every order's member must be in the members file or already in Redis."""
    listed = {m.member_id for m in members}
    others = sorted({o.member_id for o in orders} - listed)
    known: set[str] = set()
    for start in range(0, len(others), 1000):
        chunk = others[start : start + 1000]
        flags = await redis.smismember(MEMBER_INDEX_KEY, chunk)
        known.update(m for m, f in zip(chunk, flags, strict=True) if f)
    for order in orders:
        if order.member_id not in listed and order.member_id not in known:
            raise ImportProblem(
                f"{source} line {order.line}: member {order.member_id!r} is neither in the "
                "members file nor a member already"
            )


async def write_import(
    redis: RedisClient,
    store: MemberStore,
    ledger: Ledger,
    aggregates: Aggregates,
    members: list[MemberRow],
    orders: list[OrderRow],
    progress: Callable[[str, int], Progress] | None = None,
) -> ImportResult:
    """Write checked rows: members first, then their orders through the ledger, then a
    review of the members who had none (their tier decided, the metrics updated)."""
    bar = progress("members", len(members)) if progress and members else None
    for row in members:
        await store.upsert(
            row.member_id,
            row.tier,
            row.name,
            mode=("pinned" if row.pinned else "auto") if row.tier else "",
            since_ms=row.since_ms,
            cause="import",
        )
        if bar:
            bar.advance(1)
    bar = progress("orders", len(orders)) if progress and orders else None
    new_orders = changes = 0
    # Whole members per call: one member's orders are folded in together.
    by_member: dict[MemberId, list[OrderRow]] = {}
    for order in orders:
        by_member.setdefault(order.member_id, []).append(order)
    batch: list[Event] = []
    groups = list(by_member.values())
    for index, group in enumerate(groups):
        batch.extend(o.event() for o in group)
        if len(batch) >= ORDERS_PER_CALL or index == len(groups) - 1:
            outcome = await ledger.apply(batch, cause="import")
            await aggregates.write(batch, outcome.states, ledger.now())
            new_orders += outcome.new_orders
            changes += len(outcome.changes)
            if bar:
                bar.advance(len(batch))
            batch = []
    # Members without orders are decided (and counted in the metrics) now too, rather
    # than at the next sweep.
    ordered = set(by_member)
    rest = [row.member_id for row in members if row.member_id not in ordered]
    for start in range(0, len(rest), ORDERS_PER_CALL):
        outcome = await ledger.review(rest[start : start + ORDERS_PER_CALL], cause="import")
        await aggregates.write([], outcome.states, ledger.now())
        changes += len(outcome.changes)
    return ImportResult(len(members), len(orders), new_orders, changes)
