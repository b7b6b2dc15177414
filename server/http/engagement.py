"""Engagement at the edge: external events, member explanations, the operator's metrics
(REST, behind the admin key), the dashboard page, and tier changes pushed to hosts.

- ``POST /api/events`` — events from outside the rooms (purchases, shares, invites,
  external actions). Every event is checked before any is recorded: one bad event
  refuses the whole request with its index and what is wrong. An ``id`` given by the
  caller makes a retry count once.
- ``GET /api/members/{id}/explain`` — tier, score, RFM figures and the rule that decided.
- ``GET /api/metrics`` (all views) and ``/api/metrics/{funnel,health,value,tiers}``,
  ``/api/metrics/sessions``, ``/api/metrics/sessions/{session}`` (with its timeline),
  ``PUT /api/metrics/sessions/{session}/cost`` (for ROI).
- ``GET /dashboard`` — the page; it asks for the admin key and keeps it in the tab's
  sessionStorage, never in a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from server.engagement.cohorts import CohortReport
from server.engagement.events import (
    EXTERNAL_ACTIONS,
    SCHEMA_VERSION,
    Event,
    EventKind,
    PurchaseError,
    encode,
    new_event,
    now_ms,
    purchase_data,
)
from server.engagement.explain import explain
from server.engagement.forecast import read_prediction
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.recorder import EventRecorder
from server.engagement.reports import Reports, valid_session_name
from server.engagement.rules import Rules
from server.engagement.scoring import APPLIED_RETENTION_MS
from server.http.common import (
    Handler,
    RequestError,
    admin_only,
    error_response,
    exact_number,
    parse_json,
    read_capped,
)
from server.http.openapi import (
    ID,
    MONEY,
    SESSION_PARAM,
    TIER,
    Operation,
    Schema,
    obj,
    operation,
    path_param,
    query_limit,
)
from server.ids import MemberId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.store import RoomStore
from server.settings import Settings
from server.text import find_problem

logger = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).resolve().parents[2] / "web"
MAX_BODY: Final = 256 * 1024
MAX_EVENTS: Final = 500
MAX_TEXT: Final = 80
# Events may be reported a little ahead of our clock, never more.
FUTURE_SLACK_MS: Final = 5 * 60 * 1000
# Reported times before this (2000-01-01 UTC) are mistakes (or attacks), not history.
EARLIEST_MS: Final = 946_684_800_000
# Explicit embeddings, overrides and isolates: they reorder what follows them on screen.
EXTERNAL_KINDS: Final = (EventKind.PURCHASE, EventKind.SHARE, EventKind.INVITE, EventKind.EXTERNAL)
# Fields each kind accepts besides kind, member_id, room_id, id and at.
KIND_FIELDS: Final = {
    EventKind.PURCHASE: ("order_id", "amount", "currency", "product_id", "session"),
    EventKind.SHARE: ("channel", "session"),
    EventKind.INVITE: ("invitee", "session"),
    EventKind.EXTERNAL: ("action", "source"),
}
DASHBOARD_HEADERS: Final = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}


class EventInputError(RequestError):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(status, code, message)


async def _json_body(request: web.Request) -> Any:
    return parse_json(await read_capped(request, MAX_BODY), parse_float=exact_number)


def _timestamp(value: Any, now: int) -> int:
    if value is None:
        return now
    if isinstance(value, int) and not isinstance(value, bool):
        ts = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"at {value[:40]!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts = int(moment.timestamp() * 1000)
    else:
        raise ValueError("at must be an ISO 8601 time or epoch milliseconds")
    if ts > now + FUTURE_SLACK_MS:
        raise ValueError("at is in the future")
    if ts < EARLIEST_MS:
        raise ValueError("at is before 2000-01-01")
    return ts


def _short_text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        raise ValueError(f"{key} must be a string of 1-{MAX_TEXT} characters")
    if not is_plain_text(value):
        raise ValueError(
            f"{key} must be valid Unicode without control, surrogate or bidi-override characters"
        )
    return value


def is_plain_text(value: str) -> bool:
    """True if ``value`` can be stored and shown as it is: the label rules of
    ``server/text.py`` (no lone surrogate, control character or bidi control)."""
    return find_problem(value, multiline=False, label=True) is None


def parse_external_event(item: Any, now: int) -> Event:
    """One event of a ``POST /api/events`` body, checked; ``ValueError`` says what is wrong."""
    if not isinstance(item, dict):
        raise ValueError("an event must be a JSON object")
    names = [k.value for k in EXTERNAL_KINDS]
    if item.get("kind") not in names:
        raise ValueError(
            f"kind must be one of {', '.join(names)} (got {str(item.get('kind'))[:30]!r})"
        )
    kind = EventKind(str(item["kind"]))
    allowed = {"kind", "member_id", "room_id", "id", "at", *KIND_FIELDS[kind]}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValueError(f"unknown field {unknown[0][:40]!r} for a {kind.value} event")
    member_id = str(item.get("member_id"))
    if not is_valid_id(item.get("member_id")):
        raise ValueError("member_id must be an id (letters, digits, '.', '_', '-')")
    room_id = item.get("room_id") or ""
    if room_id and not is_valid_id(room_id):
        raise ValueError("room_id must be an id (letters, digits, '.', '_', '-')")
    ts = _timestamp(item.get("at"), now)
    if ts < now - APPLIED_RETENTION_MS and kind is not EventKind.PURCHASE:
        raise ValueError("at is older than 30 days: only purchases may be that old")
    data: dict[str, Any] = {}
    session = item.get("session")
    if session is not None and not is_valid_id(session):
        raise ValueError("session must be an id (letters, digits, '.', '_', '-')")
    if kind is EventKind.PURCHASE:
        product = item.get("product_id")
        if product is not None and not is_valid_id(product):
            raise ValueError("product_id must be an id (letters, digits, '.', '_', '-')")
        amount = item.get("amount")
        if isinstance(amount, Decimal):
            amount = str(amount)  # a JSON number, read exactly
        try:
            data = purchase_data(item.get("order_id"), amount, item.get("currency"))
        except PurchaseError as exc:
            raise ValueError(str(exc)) from None
        if product is not None:
            data["product_id"] = product
    elif kind is EventKind.INVITE:
        if not is_valid_id(item.get("invitee")):
            raise ValueError("invitee must be the invited member's id")
        data["invitee"] = item["invitee"]
    elif kind is EventKind.EXTERNAL:
        if item.get("action") not in EXTERNAL_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(EXTERNAL_ACTIONS)}")
        data["action"] = item["action"]
        source = _short_text(item, "source")
        if source:
            data["source"] = source
    else:
        channel = _short_text(item, "channel")
        if channel:
            data["channel"] = channel
    if session is not None:
        data["session"] = session
    event = new_event(kind, room_id, MemberId(member_id), **data)
    client_id = item.get("id")
    if client_id is not None:
        if not is_valid_id(client_id):
            raise ValueError("id must be 1-64 letters, digits, '.', '_' or '-'")
        # The caller's id makes the event id: a retried request counts once.
        return Event(f"x-{client_id}", SCHEMA_VERSION, kind, room_id, event.member_id, ts, data)
    return Event(event.id, SCHEMA_VERSION, kind, room_id, event.member_id, ts, data)


def checked_encodable(event: Event) -> Event:
    """``event`` if the recorder can store it: encoded here once, so that an event that
    could not be is refused before the 202 rather than dropped after it."""
    try:
        encode(event)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("this event cannot be stored (a value is out of range)") from None
    return event


class EngagementApi:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        recorder: EventRecorder,
        rules: Rules,
        members: MemberStore,
        rooms: RoomStore,
    ) -> None:
        self._settings = settings
        self._recorder = recorder
        self._rules = rules
        self._members = members
        self._rooms = rooms
        self._ledger = Ledger(redis, rules)
        self._redis = redis
        self._reports = Reports(redis, rules)
        self._cohorts = CohortReport(redis, rules)
        # More figures for one session (rewards: server/http/rewards.py), set by the app.
        self.session_extras: list[Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]] = []

    def routes(self) -> list[web.AbstractRouteDef]:
        g = self._guard
        return [
            web.get("/dashboard", self.dashboard),
            web.post("/api/events", g(self.post_events)),
            web.get("/api/members/{member_id}/explain", g(self.explain)),
            web.get("/api/metrics", g(self.overview)),
            web.get("/api/metrics/funnel", g(self.funnel)),
            web.get("/api/metrics/health", g(self.health)),
            web.get("/api/metrics/value", g(self.value)),
            web.get("/api/metrics/tiers", g(self.tiers)),
            web.get("/api/metrics/cohorts", g(self.cohorts)),
            web.get("/api/metrics/sessions", g(self.sessions)),
            web.get("/api/metrics/sessions/{session}", g(self.session)),
            web.put("/api/metrics/sessions/{session}/cost", g(self.put_cost)),
        ]

    def _guard(self, handler: Handler) -> Handler:
        return admin_only(self._settings, handler, unavailable=True)

    async def dashboard(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "dashboard.html", headers=DASHBOARD_HEADERS)

    async def post_events(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        items = body.get("events") if isinstance(body, dict) and "events" in body else [body]
        if not isinstance(items, list) or not items:
            raise EventInputError("invalid_field", "events must be a non-empty list.")
        if len(items) > MAX_EVENTS:
            raise EventInputError("too_many", f"At most {MAX_EVENTS} events per request.", 413)
        now = now_ms()
        events = []
        for index, item in enumerate(items):
            try:
                events.append(checked_encodable(parse_external_event(item, now)))
            except ValueError as exc:
                text = str(exc)
                raise EventInputError(
                    "invalid_event", f"events[{index}]: {text[:1].upper()}{text[1:]}."
                ) from None
        for event in events:
            self._recorder.record(event)
        # Acknowledged means on disk (the journal) or in Redis: a crash cannot lose it.
        await self._recorder.durable(self._settings.redis.timeout)
        return web.json_response(
            {"accepted": len(events), "ids": [e.id for e in events]}, status=202
        )

    async def explain(self, request: web.Request) -> web.Response:
        member_id = request.match_info["member_id"]
        if not is_valid_id(member_id):
            raise EventInputError("invalid_id", "The member id is not a valid id.")
        mid = MemberId(member_id)
        state, orders = await self._ledger.read(mid)
        if state.version == 0 and not state.is_member:
            return error_response(404, "not_found", f"No member '{member_id}'.")
        member = await self._members.get(mid)
        history = await self._ledger.history(mid)
        name = member.name if member else member_id
        caps, predicted = await self._ledger.caps(mid), await read_prediction(self._redis, mid)
        data = explain(state, name, orders, history, self._rules, now_ms(), caps, predicted)
        return web.json_response(data)

    async def _room_invites(self) -> set[str]:
        invited: set[str] = set()
        for spec in await self._rooms.list():
            invited.update(spec.invites)
        return invited

    async def overview(self, request: web.Request) -> web.Response:
        invites = await self._room_invites()
        return web.json_response(await self._reports.overview(now_ms(), invites))

    async def funnel(self, request: web.Request) -> web.Response:
        return web.json_response(await self._reports.funnel(await self._room_invites()))

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(await self._reports.health(now_ms()))

    async def value(self, request: web.Request) -> web.Response:
        return web.json_response(await self._reports.value())

    async def tiers(self, request: web.Request) -> web.Response:
        return web.json_response(await self._reports.tiers())

    async def cohorts(self, request: web.Request) -> web.Response:
        return web.json_response(await self._cohorts.report(now_ms()))

    async def sessions(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 500:
            raise EventInputError("invalid_field", "limit must be a whole number from 1 to 500.")
        return web.json_response({"sessions": await self._reports.sessions(limit)})

    def _session_name(self, request: web.Request) -> str:
        name = request.match_info["session"]
        if not valid_session_name(name):
            raise EventInputError("invalid_id", "A session is ROOM_ID:SESSION_ID.")
        return name

    async def session(self, request: web.Request) -> web.Response:
        name = self._session_name(request)
        found = await self._reports.session(name)
        if found is None:
            return error_response(404, "not_found", f"No session '{name}'.")
        for extra in self.session_extras:
            found.update(await extra(name, found))
        return web.json_response(found)

    async def put_cost(self, request: web.Request) -> web.Response:
        name = self._session_name(request)
        body = await _json_body(request)
        raw = body.get("cost") if isinstance(body, dict) else None
        try:
            cost = Decimal(str(raw)) if isinstance(raw, str | int | Decimal) else None
        except InvalidOperation:
            cost = None
        # NaN compares by raising: it must be refused before any comparison.
        if (
            isinstance(raw, bool)
            or cost is None
            or not cost.is_finite()
            or not 0 <= cost <= Decimal("1e9")
        ):
            raise EventInputError(
                "invalid_field", 'cost must be an amount such as "250.00" (0 to 1000000000).'
            )
        if cost != cost.quantize(Decimal("0.01")):
            raise EventInputError("invalid_field", "cost must have at most two decimals.")
        found = await self._reports.set_cost(name, cost)
        if found is None:
            return error_response(404, "not_found", f"No session '{name}'.")
        return web.json_response(found)


# --- the OpenAPI description of the routes above (the dashboard page is not REST) ------

_RATE: Final[Schema] = {"type": "number", "nullable": True}
_MONEY: Final[Schema] = {**MONEY, "nullable": True}
_FUNNEL: Final = obj(
    ("invited", "invited_joined", "invite_join_rate", "hook_visitors", "hook_members"),
    invited={"type": "integer"},
    invited_joined={"type": "integer"},
    invite_join_rate=_RATE,
    hook_visitors={"type": "integer"},
    hook_members={"type": "integer"},
    hook_member_rate=_RATE,
)
_VALUE: Final = obj(
    ("currency", "members", "buyers", "orders", "revenue"),
    currency={"type": "string"},
    members={"type": "integer"},
    buyers={"type": "integer"},
    orders={"type": "integer"},
    revenue=_MONEY,
    average_order_value=_MONEY,
    ltv_per_buyer=_MONEY,
    ltv_per_member=_MONEY,
    orders_without_rate={
        "type": "integer",
        "description": "Orders in a currency without a rate, left out of the averages.",
    },
)
_TIERS: Final = obj(("now", "history"), now={"type": "object"}, history={"type": "array"})
_COUNTS: Final[Schema] = {"type": "array", "items": {"type": "integer"}}
_DAYS: Final[Schema] = {"type": "number", "nullable": True}
_SCORES: Final = obj(
    ("members", "p25", "median", "p75", "max", "buckets"),
    members={"type": "integer"},
    p25=_DAYS,
    median=_DAYS,
    p75=_DAYS,
    max=_DAYS,
    buckets=_COUNTS,
)
_COHORTS: Final = obj(
    ("members", "score_edges", "score_by_tier", "retained_days", "cohorts", "second_purchase"),
    members={"type": "integer"},
    score_edges=_COUNTS,
    score_by_tier={
        "type": "object",
        "description": "Per tier: decayed scores now, quartiles and counts per bucket "
        "(bucket i holds scores from score_edges[i] up to the next edge; the last is open).",
        "additionalProperties": _SCORES,
    },
    retained_days={"type": "integer"},
    cohorts={
        "type": "array",
        "items": obj(
            ("month", "members", "retained", "retention", "buyers", "conversion"),
            month={"type": "string", "description": "Join month (YYYY-MM, UTC) or unknown."},
            members={"type": "integer"},
            retained={"type": "integer", "description": "Active within retained_days."},
            retention=_RATE,
            buyers={"type": "integer"},
            conversion=_RATE,
            repeat_buyers={"type": "integer"},
            median_days_to_second=_DAYS,
        ),
    },
    second_purchase=obj(
        ("buyers", "repeat_buyers", "measured", "median_days", "within_days", "counts"),
        buyers={"type": "integer"},
        repeat_buyers={"type": "integer"},
        repeat_rate=_RATE,
        measured={"type": "integer"},
        median_days=_DAYS,
        within_days=_COUNTS,
        counts=_COUNTS,
    ),
)
_SESSION: Final = obj(
    ("session", "room_id", "attendees", "currency", "revenue", "cost"),
    session={"type": "string"},
    room_id={"type": "string"},
    attendees={"type": "integer"},
    currency={"type": "string"},
    revenue=_MONEY,
    cost=_MONEY,
    roi=_RATE,
)
_NEXT_CHANGE: Final = obj(
    ("at", "to", "reason", "prevented_by"),
    at={"type": "string", "format": "date-time"},
    to={"type": "string", "enum": [*TIER["enum"], "at_risk"]},
    reason={"type": "string"},
    prevented_by={"type": "string", "nullable": True},
)
_PREDICTED: Final = obj(
    ("horizon_days", "p_buy_again", "expected_orders", "expected_value_minor", "fitted_at"),
    horizon_days={"type": "integer"},
    p_buy_again={"type": "number", "minimum": 0, "maximum": 1},
    expected_orders={"type": "number"},
    expected_value_minor={"type": "integer"},
    fitted_at={"type": "integer", "description": "Epoch milliseconds of the fit."},
)
_EXPLAIN: Final = obj(
    ("member_id", "tier", "score", "verdict", "points_by_kind", "predicted", "at_risk"),
    member_id=ID,
    tier={"type": "string", "nullable": True},
    score={"type": "number"},
    verdict={"type": "object"},
    points_by_kind={
        "type": "array",
        "description": "Points per kind over the last 7 UTC days, most first.",
        "items": obj(
            ("kind", "points", "cap_reached_on"),
            kind={"type": "string"},
            points={"type": "number"},
            cap_reached_on={"type": "array", "items": {"type": "string", "format": "date"}},
        ),
    },
    predicted={**_PREDICTED, "nullable": True},
    at_risk={"type": "string", "nullable": True, "description": "Why, when flagged."},
    next_change={
        **_NEXT_CHANGE,
        "nullable": True,
        "description": "The next change time alone brings (none when pinned or not soon).",
    },
    history={
        "type": "array",
        "items": obj(
            ("at", "figures_at_the_time"),
            at={"type": "string", "nullable": True},
            figures_at_the_time={"type": "boolean"},
        ),
    },
)
_EVENT: Final = obj(
    ("kind", "member_id"),
    kind={"type": "string", "enum": [k.value for k in EXTERNAL_KINDS]},
    member_id=ID,
    room_id=ID,
    id=ID,
    at={
        "oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}],
        "description": "Epoch milliseconds or ISO 8601; at most 5 minutes ahead.",
    },
    order_id={"type": "string"},
    amount={"oneOf": [{"type": "string"}, {"type": "number"}]},
    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
    product_id=ID,
    session=ID,
    channel={"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
    invitee=ID,
    action={"type": "string", "enum": list(EXTERNAL_ACTIONS)},
    source={"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
)

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/events": {
        "post": operation(
            "Record events from outside the rooms: one event or {events: [...]} (at most "
            f"{MAX_EVENTS}); one bad event refuses all (code `invalid_event`).",
            obj(
                ("accepted", "ids"),
                accepted={"type": "integer"},
                ids={"type": "array", "items": {"type": "string"}},
            ),
            status=202,
            body={
                "oneOf": [
                    _EVENT,
                    obj(
                        ("events",),
                        events={
                            "type": "array",
                            "items": _EVENT,
                            "minItems": 1,
                            "maxItems": MAX_EVENTS,
                        },
                    ),
                ]
            },
        )
    },
    "/api/members/{member_id}/explain": {
        "get": operation(
            "Why a member has their tier: score, RFM figures and the deciding rule.",
            _EXPLAIN,
            params=[path_param("member_id")],
            errors=(400, 404),
        )
    },
    "/api/metrics": {
        "get": operation(
            "Every view at once.",
            obj(
                ("funnel", "health", "value", "tiers", "sessions"),
                funnel=_FUNNEL,
                health={"type": "object"},
                value=_VALUE,
                tiers=_TIERS,
                sessions={"type": "array", "items": _SESSION},
            ),
            errors=(),
        )
    },
    "/api/metrics/funnel": {"get": operation("Invite and hook funnels.", _FUNNEL, errors=())},
    "/api/metrics/health": {
        "get": operation("Community health over 7 and 30 days.", {"type": "object"}, errors=())
    },
    "/api/metrics/value": {"get": operation("Member value.", _VALUE, errors=())},
    "/api/metrics/tiers": {"get": operation("Members per tier.", _TIERS, errors=())},
    "/api/metrics/cohorts": {
        "get": operation(
            "Score distribution per tier, cohorts by join month (retention, potential -> "
            "buyer conversion, days to second purchase) and time to second purchase.",
            _COHORTS,
            errors=(),
        )
    },
    "/api/metrics/sessions": {
        "get": operation(
            "The latest room sessions, newest first.",
            obj(("sessions",), sessions={"type": "array", "items": _SESSION}),
            params=[query_limit(500, 50)],
        )
    },
    "/api/metrics/sessions/{session}": {
        "get": operation(
            "One session with its per-minute timeline.",
            _SESSION,
            params=[SESSION_PARAM],
            errors=(400, 404),
        )
    },
    "/api/metrics/sessions/{session}/cost": {
        "put": operation(
            "Set what a session cost, for its ROI.",
            _SESSION,
            params=[SESSION_PARAM],
            body=obj(
                ("cost",),
                cost={
                    "type": "string",
                    "pattern": "^[0-9]{1,10}(\\.[0-9]{1,2})?$",
                    "description": 'An amount such as "250.00".',
                },
            ),
            errors=(400, 404),
        )
    },
}
