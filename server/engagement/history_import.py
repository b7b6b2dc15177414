"""History import: past events of any kind, at their original time, idempotently.

A brand moving to Salon brings its members' history (joins with watch time, chat,
questions, votes, clicks, purchases, shares, invites, check-ins). ``parse_events``
reads it from CSV or JSON Lines (pure, no I/O: it may run in a thread) and returns the
good rows as events and every bad row as a ``Rejected`` (line, code, parameters);
``write_history`` folds the events in through the scorer's own ledger in history mode,
whole members at a time, so that scores, RFM and tiers come out as if the events had
been lived (the caps per day, the decay, the order windows all see the original times).

Idempotent: every row carries an ``id``; the event's id is derived from it, and the
ledger applies an id once however often the file is imported (ids of events older than
the live dedup window are kept for good, per member). A dry run parses and checks only.

Columns (CSV header, or JSON keys; JSON may also nest the kind's fields under ``data``):
``id``, ``kind``, ``member_id``, ``at`` (ISO 8601, UTC unless it says otherwise, or epoch
milliseconds), optionally ``room_id``, ``session``, and the kind's fields:
``watch_seconds`` (leave), ``seconds`` (stage_seconds), ``emoji`` (reaction),
``product_id`` (product_click, purchase), ``order_id``/``amount``/``currency``
(purchase), ``invitee`` (invite), ``channel`` (share), ``action`` (external).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from server.engagement.aggregates import Aggregates
from server.engagement.events import (
    EXTERNAL_ACTIONS,
    SCHEMA_VERSION,
    Event,
    EventKind,
    PurchaseError,
    purchase_data,
)
from server.engagement.importer import Progress, parse_time
from server.engagement.ledger import Ledger
from server.engagement.members import MEMBER_INDEX_KEY
from server.engagement.rules import Rules
from server.ids import MemberId, is_valid_id
from server.redis_client import RedisClient

COLUMNS: Final = (
    "id",
    "kind",
    "member_id",
    "at",
    "room_id",
    "session",
    "watch_seconds",
    "seconds",
    "emoji",
    "product_id",
    "order_id",
    "amount",
    "currency",
    "invitee",
    "channel",
    "action",
)
DATA_FIELDS: Final = COLUMNS[5:]
# Kinds a history may hold: what members do (not a host's stage moderation).
KINDS: Final = frozenset(
    k
    for k in EventKind
    if k
    not in (
        EventKind.STAGE_INVITE,
        EventKind.STAGE_ACCEPT,
        EventKind.STAGE_DECLINE,
        EventKind.MUTE,
        EventKind.REMOVE,
        EventKind.BAN,
    )
)
_ID: Final = re.compile(r"[!-~]{1,128}")
EARLIEST_MS: Final = 946_684_800_000  # 2000-01-01: older times are typos
MAX_SECONDS: Final = 24 * 3600.0
# Events per ledger call (whole members at a time), and calls at once.
EVENTS_PER_CALL: Final = 20_000
IN_FLIGHT: Final = 2

# The sentence for each rejection code, rendered at the edges (CLI, REST).
REASONS: Final = {
    "bad_format": "line {line}: {detail}",
    "missing": "line {line}: {field} is missing",
    "bad_id": "line {line}: id {value!r} must be 1-128 printable characters without spaces",
    "duplicate_id": "line {line}: id {value!r} is already on line {first}",
    "bad_kind": "line {line}: kind {value!r} is not one of {known}",
    "bad_member": "line {line}: member_id {value!r} is not a valid member id",
    "bad_room": "line {line}: {field} {value!r} is not a valid id",
    "bad_time": "line {line}: at {value!r} is not an ISO 8601 time or epoch milliseconds",
    "future": "line {line}: at {value!r} is in the future",
    "too_old": "line {line}: at {value!r} is before 2000",
    "bad_number": "line {line}: {field} {value!r} must be a number from 0 to 86400",
    "bad_purchase": "line {line}: {detail}",
    "bad_text": "line {line}: {field} is not valid Unicode text (a lone surrogate)",
    "no_rate": (
        "line {line}: currency {value} has no rate in the tier rules' [currency_rates] "
        "(the order would count for nothing)"
    ),
    "bad_action": "line {line}: action {value!r} is not one of {known}",
    "unknown_member": (
        "line {line}: member {value!r} is neither in the members file nor a member already"
    ),
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row left out, why (``code``, one of ``REASONS``) and the figures for the sentence."""

    line: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        return REASONS[self.code].format(line=self.line, **self.params)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message()}


@dataclass(slots=True)
class Parsed:
    events: list[Event] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rows: int = 0


class _Bad(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def event_id(source_id: str) -> str:
    """The ledger id of an imported row: stable, so a re-import is recognized."""
    return "hist-" + hashlib.sha256(source_id.encode()).hexdigest()[:32]


def _not_json(constant: str) -> Any:
    raise _Bad("bad_format", detail=f"not JSON ({constant} is not a JSON number)")


def _json_line(line: str) -> Any:
    """One JSON Lines row; ``_Bad`` ``bad_format`` for anything but JSON.

    Not only a syntax error: nesting deep enough to exhaust the parser's recursion, an
    integer beyond Python's digit limit, and ``NaN``/``Infinity`` (which Python reads
    but JSON does not have) used to escape as a 500 or pass as a number."""
    try:
        return json.loads(line, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise _Bad("bad_format", detail=f"not JSON ({exc.msg})") from None
    except RecursionError:
        raise _Bad("bad_format", detail="not JSON (nested too deeply)") from None
    except ValueError:  # the only other: an integer beyond Python's digit limit
        raise _Bad("bad_format", detail="not JSON (a number with too many digits)") from None


def _rows(text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | _Bad]]:
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = _json_line(line)
            except _Bad as bad:
                yield number, bad
                continue
            except RecursionError:  # '[' * 30000: a row like any other bad one, not a 500
                yield number, _Bad("bad_format", detail="not JSON (nested too deeply)")
                continue
            if not isinstance(obj, dict):
                yield number, _Bad("bad_format", detail="a line must be a JSON object")
                continue
            nested = obj.pop("data", None)
            if isinstance(nested, dict):
                obj = {**nested, **obj}
            yield number, obj
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, _Bad("bad_format", detail=str(exc))
        return
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or len(set(header)) != len(header):
        detail = f"unknown column {unknown[0]!r}" if unknown else "a column appears twice"
        yield 1, _Bad("bad_format", detail=f"{detail} (known: {', '.join(COLUMNS)})")
        return
    try:
        for row in reader:
            if not any(row):
                continue
            if len(row) != len(header):
                yield (
                    reader.line_num,
                    _Bad(
                        "bad_format", detail=f"{len(row)} fields, but the header has {len(header)}"
                    ),
                )
                continue
            yield reader.line_num, {h: c for h, c in zip(header, row, strict=True) if c}
    except csv.Error as exc:
        yield reader.line_num, _Bad("bad_format", detail=str(exc))


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _time(value: Any, now: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        ts = value
    else:
        text = value if isinstance(value, str) else str(value)
        try:
            ts = int(text) if text.isdigit() else parse_time(text)
        except ValueError:
            raise _Bad("bad_time", value=text[:40]) from None
    if ts > now + 60_000:
        raise _Bad("future", value=str(value)[:40])
    if ts < EARLIEST_MS:
        raise _Bad("too_old", value=str(value)[:40])
    return ts


def _seconds(row: dict[str, Any], name: str) -> float:
    value = row.get(name)
    if value is None or value == "":
        raise _Bad("missing", field=name)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # an int beyond float: 1e400 written out
        raise _Bad("bad_number", field=name, value=str(value)[:20]) from None
    if not math.isfinite(number) or not 0 <= number <= MAX_SECONDS:
        raise _Bad("bad_number", field=name, value=str(value)[:20])
    return number


def _storable(value: str) -> bool:
    """False for a lone surrogate (JSON's ``"\\ud800"``): not UTF-8, the event could not
    be stored (it used to fail the whole import with a 500)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


_KINDS: Final = {k.value: k for k in KINDS}
_SIMPLE: Final = ("emoji", "product_id", "channel")


def parse_row(row: dict[str, Any], rules: Rules, now: int) -> Event:
    """One row as an event; raises ``_Bad`` with the first problem."""
    source_id = _text(row, "id")
    kind_text = _text(row, "kind")
    member = _text(row, "member_id")
    at = row.get("at")
    if not source_id or not kind_text or not member or at in (None, ""):
        name = next(n for n in ("id", "kind", "member_id", "at") if row.get(n) in (None, ""))
        raise _Bad("missing", field=name)
    if not _ID.fullmatch(source_id):
        raise _Bad("bad_id", value=source_id[:40])
    kind = _KINDS.get(kind_text)
    if kind is None:
        raise _Bad("bad_kind", value=kind_text[:30], known=", ".join(sorted(_KINDS)))
    if not is_valid_id(member):
        raise _Bad("bad_member", value=member[:70])
    ts = _time(at, now)
    room = _text(row, "room_id")
    data: dict[str, Any] = {"source": "history"}
    for name in ("room_id", "session", "invitee"):
        value = _text(row, name)
        if value:
            if not is_valid_id(value):
                raise _Bad("bad_room", field=name, value=value[:70])
            if name != "room_id":
                data[name] = value
    for name in _SIMPLE:
        if name in row:
            value = _text(row, name)[:64]
            if not _storable(value):
                raise _Bad("bad_text", field=name)
            data[name] = value
    if kind is EventKind.LEAVE:
        data["watch_seconds"] = _seconds(row, "watch_seconds")
    elif kind is EventKind.STAGE_SECONDS:
        data["seconds"] = _seconds(row, "seconds")
    elif kind is EventKind.EXTERNAL:
        action = _text(row, "action")
        if action not in EXTERNAL_ACTIONS:
            raise _Bad("bad_action", value=action[:30], known=", ".join(EXTERNAL_ACTIONS))
        data["action"] = action
    elif kind is EventKind.PURCHASE:
        try:
            data.update(
                purchase_data(row.get("order_id"), _text(row, "amount"), row.get("currency"))
            )
        except PurchaseError as exc:
            raise _Bad("bad_purchase", detail=str(exc)) from None
        if rules.rate(data["currency"]) is None:
            raise _Bad("no_rate", value=data["currency"])
    return Event(event_id(source_id), SCHEMA_VERSION, kind, room, MemberId(member), ts, data)


def parse_events(text: str, fmt: str, rules: Rules, now: int) -> Parsed:
    """Every row of ``text`` (``fmt``: "csv" or "jsonl"), checked. Pure."""
    out = Parsed()
    first: dict[str, int] = {}
    for line, row in _rows(text, fmt):
        out.rows += 1
        if isinstance(row, _Bad):
            out.rejected.append(Rejected(line, row.code, row.params))
            continue
        try:
            event = parse_row(row, rules, now)
        except _Bad as bad:
            out.rejected.append(Rejected(line, bad.code, bad.params))
            continue
        if event.id in first:
            value = _text(row, "id")[:40]
            out.rejected.append(
                Rejected(line, "duplicate_id", {"value": value, "first": first[event.id]})
            )
            continue
        first[event.id] = line
        out.events.append(event)
        out.lines.append(line)
    return out


def format_of(name: str) -> str:
    """ "jsonl" for ``.jsonl``/``.ndjson``/``.json`` names, else "csv"."""
    return "jsonl" if name.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


async def drop_unknown_members(
    redis: RedisClient, parsed: Parsed, listed: Iterable[str] = ()
) -> None:
    """Reject the rows of members who are neither ``listed`` nor members already."""
    known = set(listed)
    others = sorted({e.member_id for e in parsed.events} - known)
    for start in range(0, len(others), 1000):
        chunk = others[start : start + 1000]
        flags = await redis.smismember(MEMBER_INDEX_KEY, chunk)
        known.update(m for m, f in zip(chunk, flags, strict=True) if f)
    keep_events, keep_lines = [], []
    for event, line in zip(parsed.events, parsed.lines, strict=True):
        if event.member_id in known:
            keep_events.append(event)
            keep_lines.append(line)
        else:
            parsed.rejected.append(Rejected(line, "unknown_member", {"value": event.member_id}))
    parsed.events, parsed.lines = keep_events, keep_lines
    parsed.rejected.sort(key=lambda r: r.line)


@dataclass(frozen=True, slots=True)
class HistoryResult:
    events: int
    applied: int
    duplicates: int
    new_orders: int
    members: int
    tier_changes: int


async def write_history(
    ledger: Ledger,
    aggregates: Aggregates,
    events: list[Event],
    progress: Callable[[str, int], Progress] | None = None,
) -> HistoryResult:
    """Fold ``events`` in through ``ledger`` (made with ``history=True``), whole members
    per call, and count them into the metrics, as the scorer would have. ``IN_FLIGHT``
    calls run at once, on members of their own: while one waits for Redis, the next
    one folds (measured: 1 M events took 130 s one call at a time on the loaded 2-core
    machine, with Redis and the importer each idle while the other worked)."""
    by_member: dict[MemberId, list[Event]] = {}
    for event in events:
        by_member.setdefault(event.member_id, []).append(event)
    bar = progress("events", len(events)) if progress and events else None
    batches: list[list[Event]] = [[]]
    for group in by_member.values():
        if len(batches[-1]) >= EVENTS_PER_CALL:
            batches.append([])
        batches[-1].extend(group)
    totals = [0, 0, 0, 0]  # applied, duplicates, new orders, tier changes

    async def write(batch: list[Event]) -> None:
        outcome = await ledger.apply(batch, cause="import")
        await aggregates.write(outcome.applied, outcome.states, ledger.now())
        totals[0] += len(outcome.applied)
        totals[1] += outcome.duplicates
        totals[2] += outcome.new_orders
        totals[3] += len(outcome.changes)
        if bar:
            bar.advance(len(batch))

    pending = [b for b in batches if b]
    for start in range(0, len(pending), IN_FLIGHT):
        await asyncio.gather(*(write(b) for b in pending[start : start + IN_FLIGHT]))
    applied, duplicates, new_orders, changes = totals
    return HistoryResult(len(events), applied, duplicates, new_orders, len(by_member), changes)
