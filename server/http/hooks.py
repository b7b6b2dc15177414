"""Scheduled sessions, hook links and RSVPs over REST.

Operator routes (admin key):

| method | path | summary | body fields |
| --- | --- | --- | --- |
| PUT | /api/sessions/{session_id} | schedule or reschedule a session | see below |
| GET | /api/sessions | list scheduled sessions | |
| GET | /api/sessions/{session_id} | a session and its RSVPs | |
| POST | /api/sessions/{session_id}/links | add a link | channel, registration?, code?, coupon? |
| GET | /api/hooks | list hook links | |
| GET | /api/metrics/hooks | funnel per link and per channel | |

Session fields: room_id, title, starts_at (ISO 8601 with a zone, or epoch ms),
duration_min (default 60), tiers (default core,active,potential), capacity (default
100), cover_url (https or /static/...). A link's optional ``coupon`` (a coupon id that
exists) is claimed once per member by their RSVP through it (``server/hooks/coupons.py``).

Member routes (public: the page at ``/r/CODE`` calls them):

| method | path | summary | body fields |
| --- | --- | --- | --- |
| GET | /api/hooks/{code} | the session behind a link, its state, the RSVP | ?token |
| POST | /api/hooks/{code}/visit | count a visit (``hook_visit``) | visitor? token? |
| POST | /api/hooks/{code}/register | register as a potential member (if allowed) | name, visitor? |
| POST | /api/hooks/{code}/rsvp | RSVP with a member token | token |

``PATHS`` describes these routes for the OpenAPI document (``server/http/openapi.py``); the
member routes carry no security requirement.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

from aiohttp import web
from redis.exceptions import RedisError

from server import operations as ops
from server.engagement.events import EventKind, new_event, now_ms
from server.engagement.funnel_hooks import hook_funnel
from server.engagement.members import MemberStore, Tier
from server.engagement.recorder import EventRecorder
from server.error_text import render
from server.hooks.coupons import HookCoupons, add_link
from server.hooks.model import (
    MAX_CAPACITY,
    MAX_CHANNEL,
    MAX_DURATION,
    MAX_TITLE,
    HookError,
    HookLink,
    Session,
    parse_session,
)
from server.hooks.store import HookStore
from server.http.common import (
    Handler,
    RequestError,
    admin_only,
    error_response,
    unavailable_response,
)
from server.http.core import _body
from server.http.hook_limits import HookLimits
from server.http.openapi import ID, TIER, Operation, Schema, obj, object_of, operation, path_param
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.coupon_store import CouponStore
from server.rooms.errors import TokenExpired, TokenInvalid, WrongRoom
from server.rooms.reward_errors import RewardError
from server.rooms.store import RoomStore
from server.rooms.tokens import verify_token
from server.settings import Settings
from server.text import TextError, clean_label
from server.webhooks.outbox import WebhookOutbox

logger = logging.getLogger(__name__)

MAX_NAME: Final = 64
# A registered member's token lasts to the session's end and this long after it.
TOKEN_GRACE_S: Final = 6 * 3600


def _as_request_error(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HookError as exc:
            raise RequestError(exc.status, exc.code, exc.sentence()) from None

    return wrapped


def _public(handler: Handler) -> Handler:
    """A member route: refusals answer 4xx, Redis trouble 503, never a traceback."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await _as_request_error(handler)(request)
        except RequestError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except ops.InputError as exc:
            return error_response(400, exc.code, exc.message)
        except (RedisError, OSError, TimeoutError) as exc:
            return unavailable_response(request, exc)

    return guarded


def _coupon_reply(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    """A member's coupon answer as the reply says it: the refusal's sentence rendered."""
    if answer is None:
        return None
    reply = {k: answer[k] for k in ("id", "title", "value", "code")}
    if answer.get("refused"):
        code = answer["refused"]
        reply["refused"] = {"code": code, "message": render(code, answer.get("params", {}))}
    return reply


def _state(session: Session, now: int) -> str:
    if now < session.starts_ms:
        return "upcoming"
    return "live" if now < session.ends_ms else "over"


class HooksApi:
    """The routes above. A body is read (``parse_json``: bad or deeply nested JSON is 400
    ``bad_json``) before anything is looked up."""

    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        store: HookStore,
        rooms: RoomStore,
        members: MemberStore,
        recorder: EventRecorder,
        outbox: WebhookOutbox,
        limits: HookLimits | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._store = store
        self._rooms = rooms
        self._members = members
        self._recorder = recorder
        self._outbox = outbox
        self._limits = limits
        self._coupons = CouponStore(redis)
        self._hook_coupons = HookCoupons(redis, self._coupons)

    def _public(self, handler: Handler) -> Handler:
        """A member route, behind the per-address and per-code limits when set."""
        route = _public(handler)
        return self._limits.guard(route) if self._limits is not None else route

    def routes(self) -> list[web.AbstractRouteDef]:
        def admin(handler: Handler) -> Handler:
            return admin_only(self._settings, _as_request_error(handler), unavailable=True)

        return [
            web.put("/api/sessions/{session_id}", admin(self.put_session)),
            web.get("/api/sessions", admin(self.list_sessions)),
            web.get("/api/sessions/{session_id}", admin(self.get_session)),
            web.post("/api/sessions/{session_id}/links", admin(self.add_link)),
            web.get("/api/hooks", admin(self.list_links)),
            web.get("/api/metrics/hooks", admin(self.funnel)),
            web.get("/api/hooks/{code}", self._public(self.view)),
            web.post("/api/hooks/{code}/visit", self._public(self.visit)),
            web.post("/api/hooks/{code}/register", self._public(self.register)),
            web.post("/api/hooks/{code}/rsvp", self._public(self.rsvp)),
        ]

    # --- operators -------------------------------------------------------------------

    async def put_session(self, request: web.Request) -> web.Response:
        session = parse_session(request.match_info["session_id"], await _body(request))
        if await self._rooms.get(RoomId(session.room_id)) is None:
            raise HookError("not_found", what="room", id=session.room_id)
        await self._store.put_session(session)
        return web.json_response(session.to_json())

    async def list_sessions(self, request: web.Request) -> web.Response:
        sessions = await self._store.sessions()
        return web.json_response({"sessions": [s.to_json() for s in sessions]})

    async def get_session(self, request: web.Request) -> web.Response:
        session = await self._store.session(request.match_info["session_id"])
        rsvps = await self._store.rsvps(session.id)
        return web.json_response({**session.to_json(), "rsvps": rsvps})

    async def add_link(self, request: web.Request) -> web.Response:
        body = await _body(request)
        session = await self._store.session(request.match_info["session_id"])
        link = await add_link(self._store, self._coupons, session, body)
        return web.json_response(link.to_json(), status=201)

    async def list_links(self, request: web.Request) -> web.Response:
        return web.json_response({"links": [k.to_json() for k in await self._store.links()]})

    async def funnel(self, request: web.Request) -> web.Response:
        known = {k.code: k.channel for k in await self._store.links()}
        return web.json_response(await hook_funnel(self._redis, known))

    # --- members ---------------------------------------------------------------------

    async def _link(self, request: web.Request) -> tuple[HookLink, Session]:
        link = await self._store.link(request.match_info["code"])
        return link, await self._store.session(link.session_id)

    def _member_of(self, token: Any, session: Session) -> MemberId:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise HookError("bad_token")
        try:
            claims = verify_token(
                self._settings.auth.secret,
                token,
                RoomId(session.room_id),
                self._settings.auth.issuer,
            )
        except (TokenExpired, TokenInvalid, WrongRoom):
            raise HookError("bad_token") from None
        return claims.member_id

    def _record(self, kind: EventKind, member: str, link: HookLink, session: Session) -> None:
        self._recorder.record(
            new_event(
                kind,
                session.room_id,
                MemberId(member),
                link=link.code,
                channel=link.channel,
                session=session.id,
            )
        )

    async def view(self, request: web.Request) -> web.Response:
        link, session = await self._link(request)
        token = request.query.get("token")
        member: dict[str, Any] | None = None
        if token:
            member_id = self._member_of(token, session)
            record = await self._members.get(member_id)
            member = {
                "member_id": member_id,
                "name": record.name if record else member_id,
                "rsvped": await self._store.has_rsvp(session.id, member_id),
                "coupon": _coupon_reply(await self._hook_coupons.given(link, member_id)),
            }
        rsvps = await self._store.rsvps(session.id)
        return web.json_response(
            {
                "code": link.code,
                "channel": link.channel,
                "registration": link.registration,
                "coupon": await self._hook_coupons.teaser(link),
                "state": _state(session, now_ms()),
                "now_ms": now_ms(),
                "session": {k: v for k, v in session.to_json().items() if k not in ("id",)}
                | {"ends_ms": session.ends_ms},
                "rsvps": len(rsvps),
                "member": member,
            }
        )

    async def visit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        link, session = await self._link(request)
        if body.get("token"):
            who: str = self._member_of(body["token"], session)
        else:
            visitor = body.get("visitor")
            if not is_valid_id(visitor) or not str(visitor).startswith("v-"):
                raise RequestError(400, "invalid_id", "visitor must be an id starting with 'v-'.")
            who = str(visitor)
        self._record(EventKind.HOOK_VISIT, who, link, session)
        return web.json_response({"ok": True})

    async def register(self, request: web.Request) -> web.Response:
        body = await _body(request)
        link, session = await self._link(request)
        if not link.registration:
            raise HookError("registration_closed")
        if _state(session, now_ms()) == "over":
            raise HookError("session_over")
        try:
            name = clean_label(body.get("name"), "name", MAX_NAME)
        except TextError as exc:
            raise RequestError(400, exc.code, exc.sentence()) from None
        member_id = MemberId("m-" + secrets.token_hex(6))
        await self._members.set(
            member_id, Tier.POTENTIAL, name, pinned=False, cause=f"hook {link.code}"
        )
        ttl = max(
            self._settings.auth.token_ttl, (session.ends_ms - now_ms()) // 1000 + TOKEN_GRACE_S
        )
        token = ops.make_token(
            self._settings.auth, member_id, session.room_id, "member", min(ttl, ops.MAX_TTL)
        )
        self._record(EventKind.REGISTRATION, member_id, link, session)
        self._outbox.publish(
            "member.registered",
            {
                "member_id": member_id,
                "name": name,
                "tier": "potential",
                "link": link.code,
                "channel": link.channel,
                "session_id": session.id,
            },
        )
        return web.json_response({"member_id": member_id, "name": name, "token": token}, status=201)

    async def rsvp(self, request: web.Request) -> web.Response:
        body = await _body(request)
        link, session = await self._link(request)
        member_id = self._member_of(body.get("token"), session)
        if _state(session, now_ms()) == "over":
            raise HookError("session_over")
        member = await self._members.get(member_id)
        if member is None or member.tier.value not in session.tiers:
            raise HookError("tier_too_low", tiers=list(session.tiers))
        new = await self._store.rsvp(session, member_id, link.code, now_ms())
        if new:
            self._record(EventKind.RSVP, member_id, link, session)
            self._outbox.publish(
                "rsvp.created",
                {
                    "session_id": session.id,
                    "room_id": session.room_id,
                    "member_id": member_id,
                    "name": member.name,
                    "link": link.code,
                    "channel": link.channel,
                    "starts_ms": session.starts_ms,
                },
            )
        coupon = None
        if link.coupon:
            try:
                granted = await self._hook_coupons.grant(link, member_id, member.tier, now_ms())
            except RewardError as exc:  # only "unavailable": another claim still running
                raise RequestError(503, exc.code, render(exc.code, exc.params)) from None
            coupon = _coupon_reply(granted)
        return web.json_response({"rsvped": True, "new": new, "coupon": coupon})


_INT: Final[Schema] = {"type": "integer"}
_STR: Final[Schema] = {"type": "string"}
_SESSION_FIELDS: Final[dict[str, Schema]] = {
    "room_id": ID,
    "title": {"type": "string"},
    "starts_ms": _INT,
    "duration_min": _INT,
    "tiers": {"type": "array", "items": TIER},
    "capacity": _INT,
    "cover_url": {"type": "string"},
}
_SESSION: Final[Schema] = object_of({"id": ID, **_SESSION_FIELDS}, ("id", *_SESSION_FIELDS))
_RSVPS: Final[Schema] = {
    "type": "object",
    "description": "member id -> {ts_ms, link}",
    "additionalProperties": obj(("ts_ms", "link"), ts_ms=_INT, link={"type": "string"}),
}
_LINK: Final[Schema] = obj(
    ("code", "session_id", "channel", "registration", "path"),
    code={"type": "string"},
    session_id=ID,
    channel={"type": "string"},
    registration={"type": "boolean"},
    coupon={**ID, "nullable": True, "description": "The coupon an RSVP claims, if any."},
    path={"type": "string"},
)
_COUPON_GIVEN: Final[Schema] = {
    **obj(
        ("id", "title", "value", "code"),
        id=ID,
        title=_STR,
        value={"type": "string", "description": "Amount off, a decimal string."},
        code={**_STR, "nullable": True, "description": "The member's code; null if refused."},
        refused=obj(
            ("code", "message"),
            code={"type": "string", "description": "The coupon's refusal, e.g. sold_out."},
            message=_STR,
        ),
    ),
    "nullable": True,
    "description": "The link's coupon for this member (the same answer on every RSVP); "
    "null when the link carries none.",
}
_FIGURES: Final[dict[str, Schema]] = {
    step: _INT for step in ("visits", "registrations", "rsvps", "joined", "bought")
}
_CODE_PARAM: Final = path_param("code", {"type": "string"}, "The hook link's code (/r/CODE).")
_SESSION_PARAM: Final = path_param("session_id")
_TOKEN: Final[Schema] = {"type": "string", "description": "The member's room token."}
_VISITOR: Final[Schema] = {"type": "string", "description": "An anonymous id starting 'v-'."}
# Member routes: no admin key, but Redis trouble is still 503.
_PUBLIC: Final[dict[str, Any]] = {"guarded": False, "params": [_CODE_PARAM]}

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/sessions": {
        "get": operation(
            "The scheduled sessions, soonest first.",
            obj(("sessions",), sessions={"type": "array", "items": _SESSION}),
            errors=(),
        )
    },
    "/api/sessions/{session_id}": {
        "put": operation(
            "Schedule or reschedule a session of an existing room.",
            _SESSION,
            params=[_SESSION_PARAM],
            body=obj(
                ("room_id", "title", "starts_at"),
                room_id=ID,
                title={"type": "string", "maxLength": MAX_TITLE},
                starts_at={
                    "oneOf": [{"type": "string", "maxLength": 40}, {"type": "integer"}],
                    "description": "ISO 8601 with a zone, or epoch milliseconds.",
                },
                duration_min={"type": "integer", "minimum": 1, "maximum": MAX_DURATION},
                tiers={
                    "oneOf": [
                        {"type": "array", "items": TIER, "minItems": 1},
                        {"type": "string", "description": "Comma-separated tiers."},
                    ]
                },
                capacity={"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY},
                cover_url={"type": "string", "description": "https URL or /static/..."},
            ),
            errors=(400, 404),
        ),
        "get": operation(
            "A session and its RSVPs.",
            object_of(
                {"id": ID, **_SESSION_FIELDS, "rsvps": _RSVPS}, ("id", *_SESSION_FIELDS, "rsvps")
            ),
            params=[_SESSION_PARAM],
            errors=(404,),
        ),
    },
    "/api/sessions/{session_id}/links": {
        "post": operation(
            "Add a hook link /r/CODE to a session, for one channel.",
            _LINK,
            status=201,
            params=[_SESSION_PARAM],
            body=obj(
                ("channel",),
                channel={"type": "string", "maxLength": MAX_CHANNEL},
                registration={"type": "boolean", "default": False},
                code={"type": "string", "pattern": "^[A-Za-z0-9_-]{3,32}$"},
                coupon={**ID, "description": "An existing coupon id (404 if none)."},
            ),
            errors=(400, 404, 409),
        )
    },
    "/api/hooks": {
        "get": operation(
            "Every hook link.",
            obj(("links",), links={"type": "array", "items": _LINK}),
            errors=(),
        )
    },
    "/api/metrics/hooks": {
        "get": operation(
            "The hook funnel (visits, registrations, RSVPs, joined, bought) per link and "
            "per channel.",
            obj(
                ("links", "channels"),
                links={
                    "type": "array",
                    "items": object_of(
                        {"code": _STR, "channel": _STR, **_FIGURES}, ("code", "channel", *_FIGURES)
                    ),
                },
                channels={
                    "type": "array",
                    "items": object_of({"channel": _STR, **_FIGURES}, ("channel", *_FIGURES)),
                },
            ),
            errors=(),
        )
    },
    "/api/hooks/{code}": {
        "get": operation(
            "The session behind a hook link, its state and, with a member token, the "
            "member's RSVP (public: the /r/CODE page).",
            obj(
                ("code", "channel", "registration", "state", "now_ms", "session", "rsvps"),
                code={"type": "string"},
                channel={"type": "string"},
                registration={"type": "boolean"},
                coupon={
                    **obj(("title",), title=_STR),
                    "nullable": True,
                    "description": "The link carries a coupon: its title (never a code).",
                },
                state={"type": "string", "enum": ["upcoming", "live", "over"]},
                now_ms=_INT,
                session=object_of(
                    {**_SESSION_FIELDS, "ends_ms": _INT},
                    ("room_id", "title", "starts_ms", "ends_ms"),
                ),
                rsvps=_INT,
                member={
                    **obj(
                        ("member_id", "name", "rsvped"),
                        member_id=ID,
                        name={"type": "string"},
                        rsvped={"type": "boolean"},
                        coupon=_COUPON_GIVEN,
                    ),
                    "nullable": True,
                },
            ),
            **_PUBLIC,
            errors=(400, 404, 429, 503),
        )
        | {
            "parameters": [
                _CODE_PARAM,
                {"name": "token", "in": "query", "required": False, "schema": _TOKEN},
            ]
        }
    },
    "/api/hooks/{code}/visit": {
        "post": operation(
            "Count a visit of a hook link, by a member token or an anonymous visitor id (public).",
            obj(("ok",), ok={"type": "boolean"}),
            body=obj(visitor=_VISITOR, token=_TOKEN),
            **_PUBLIC,
            errors=(400, 404, 429, 503),
        )
    },
    "/api/hooks/{code}/register": {
        "post": operation(
            "Register as a potential member through a link that takes registrations; "
            "answers the new member's token (public).",
            obj(
                ("member_id", "name", "token"),
                member_id=ID,
                name={"type": "string"},
                token={"type": "string"},
            ),
            status=201,
            body=obj(("name",), name={"type": "string", "maxLength": MAX_NAME}, visitor=_VISITOR),
            **_PUBLIC,
            errors=(400, 404, 429, 503),
        )
    },
    "/api/hooks/{code}/rsvp": {
        "post": operation(
            "RSVP to the link's session with a member token (public).",
            obj(
                ("rsvped", "new", "coupon"),
                rsvped={"type": "boolean"},
                new={"type": "boolean"},
                coupon=_COUPON_GIVEN,
            ),
            body=obj(("token",), token=_TOKEN),
            **_PUBLIC,
            errors=(400, 403, 404, 409, 429, 503),
        )
    },
}
