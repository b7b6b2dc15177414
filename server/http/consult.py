"""1:1 consultations over REST.

| method | path | who | summary |
| --- | --- | --- | --- |
| POST | /api/consultations | a member's page (body ``token``) | request one: note?, session? |
| POST | /api/consultations/inbox | an advisor's page (host ``token``) | pending requests |
| POST | /api/consultations/{consult_id}/accept | an advisor's page | open the private room |
| POST | /api/consultations/{consult_id}/decline | an advisor's page | decline |
| GET | /api/consultations/{consult_id} | its member or advisor (``?token``) | status and link |
| GET | /api/consultations | operators (admin key) | latest, with length and orders |

The page routes carry the room token the page already holds; refusals are
``ConsultError`` codes rendered by ``server/consult/errors.py``. ``PATHS`` describes them
for the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web
from redis.exceptions import RedisError

from server import operations as ops
from server.consult.errors import sentence
from server.consult.model import ConsultError
from server.consult.service import ConsultService
from server.http.common import (
    Handler,
    RequestError,
    admin_only,
    error_response,
    query_int,
    unavailable_response,
)
from server.http.core import _body
from server.http.openapi import ID, Operation, Schema, obj, operation, path_param
from server.settings import Settings


def _page(handler: Handler) -> Handler:
    """A page's route: refusals answer 4xx with a code, Redis trouble 503, no traceback."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConsultError as exc:
            return error_response(exc.status, exc.code, sentence(exc), params=exc.params)
        except RequestError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except ops.InputError as exc:
            return error_response(413 if exc.code == "too_large" else 400, exc.code, exc.message)
        except (RedisError, OSError, TimeoutError) as exc:
            return unavailable_response(request, exc)

    return guarded


def _as_request_error(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConsultError as exc:
            raise RequestError(exc.status, exc.code, sentence(exc)) from None

    return wrapped


class ConsultApi:
    def __init__(self, settings: Settings, consult: ConsultService) -> None:
        self._settings = settings
        self._consult = consult

    def routes(self) -> list[web.AbstractRouteDef]:
        admin = admin_only(self._settings, _as_request_error(self.list_all))
        return [
            web.get("/api/consultations", admin),
            web.post("/api/consultations", _page(self.request)),
            web.post("/api/consultations/inbox", _page(self.inbox)),
            web.post("/api/consultations/{consult_id}/accept", _page(self.accept)),
            web.post("/api/consultations/{consult_id}/decline", _page(self.decline)),
            web.get("/api/consultations/{consult_id}", _page(self.view)),
        ]

    async def request(self, request: web.Request) -> web.Response:
        body = await _body(request)
        record = await self._consult.request(
            body.get("token"), body.get("note"), body.get("session")
        )
        return web.json_response({"consultation": record.to_json()}, status=201)

    async def inbox(self, request: web.Request) -> web.Response:
        body = await _body(request)
        pending = await self._consult.inbox(body.get("token"))
        return web.json_response({"consultations": [c.to_json() for c in pending]})

    async def _answer(self, request: web.Request, accept: bool) -> web.Response:
        body = await _body(request)
        record, link = await self._consult.answer(
            body.get("token"), request.match_info["consult_id"], accept
        )
        return web.json_response({"consultation": record.to_json(), "link": link or None})

    async def accept(self, request: web.Request) -> web.Response:
        return await self._answer(request, True)

    async def decline(self, request: web.Request) -> web.Response:
        return await self._answer(request, False)

    async def view(self, request: web.Request) -> web.Response:
        record, link = await self._consult.view(
            request.query.get("token"), request.match_info["consult_id"]
        )
        return web.json_response({"consultation": record.to_json(), "link": link or None})

    async def list_all(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 100, 1, 1000)
        records = await self._consult.recent(limit)
        return web.json_response({"consultations": [c.to_json() for c in records]})


_INT: Final[Schema] = {"type": "integer"}
_STR: Final[Schema] = {"type": "string"}
_TOKEN: Final[Schema] = {"type": "string", "description": "The page's room token."}
CONSULTATION: Final[Schema] = obj(
    ("id", "member_id", "member_name", "origin_room", "status", "requested_ms"),
    id=ID,
    member_id=ID,
    member_name=_STR,
    origin_room=ID,
    origin_session=_STR,
    note=_STR,
    requested_ms=_INT,
    status={"type": "string", "enum": ["pending", "accepted", "declined", "ended"]},
    advisor_id=_STR,
    advisor_name=_STR,
    decided_ms=_INT,
    started_ms=_INT,
    ended_ms=_INT,
    seconds={"type": "number"},
    orders={"type": "array", "items": _STR},
    room_id={"type": "string", "nullable": True},
)
_ONE: Final[Schema] = obj(
    ("consultation", "link"),
    consultation=CONSULTATION,
    link={"type": "string", "nullable": True, "description": "The reader's room link."},
)
_MANY: Final[Schema] = obj(
    ("consultations",), consultations={"type": "array", "items": CONSULTATION}
)
_ID_PARAM: Final = path_param("consult_id", ID, "The consultation's id.")
_PAGE: Final[dict[str, Any]] = {"guarded": False}

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/consultations": {
        "get": operation(
            "The latest consultations, newest first, with their length and credited orders.",
            _MANY,
            params=[
                {"name": "limit", "in": "query", "required": False, "schema": _INT},
            ],
            errors=(400,),
        ),
        "post": operation(
            "A member requests a 1:1 consultation with their room token (public: the room "
            "and /r/CODE pages).",
            obj(("consultation",), consultation=CONSULTATION),
            status=201,
            body=obj(("token",), token=_TOKEN, note=_STR, session=ID),
            errors=(400, 403, 409, 503),
            **_PAGE,
        ),
    },
    "/api/consultations/inbox": {
        "post": operation(
            "Pending requests for an advisor's host token (public: the host console).",
            _MANY,
            body=obj(("token",), token=_TOKEN),
            errors=(400, 403, 503),
            **_PAGE,
        )
    },
    "/api/consultations/{consult_id}/accept": {
        "post": operation(
            "An advisor accepts: the private room opens; the answer has the advisor's link.",
            _ONE,
            params=[_ID_PARAM],
            body=obj(("token",), token=_TOKEN),
            errors=(400, 403, 404, 409, 503),
            **_PAGE,
        )
    },
    "/api/consultations/{consult_id}/decline": {
        "post": operation(
            "An advisor declines a pending request.",
            _ONE,
            params=[_ID_PARAM],
            body=obj(("token",), token=_TOKEN),
            errors=(400, 403, 404, 409, 503),
            **_PAGE,
        )
    },
    "/api/consultations/{consult_id}": {
        "get": operation(
            "A consultation as its member or advisor sees it, with their room link once "
            "accepted (public: the pages poll it).",
            _ONE,
            params=[
                _ID_PARAM,
                {"name": "token", "in": "query", "required": True, "schema": _TOKEN},
            ],
            errors=(400, 403, 404, 503),
            **_PAGE,
        )
    },
}
