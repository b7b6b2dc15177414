"""The OpenAPI 3.0 document served at ``/api/openapi.json``, and the helpers that build it.

Each REST module describes its own paths next to its handlers (``PATHS`` in
``server/http/core.py``, ``server/http/engagement.py``, ``server/http/commerce.py``,
``server/http/rewards.py``, ``server/http/webhooks.py``, ``server/http/hooks.py``; the
service endpoints below); :func:`document` joins them
with what they share (the ``session`` path parameter, the error
body ``{"error": {"code", "message"}}``, the refusals every guarded route can answer
(401, 503), and the bearer security scheme). ``tests/functional/test_openapi.py`` checks
that the document and the routes the app registers are the same set.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from server.ids import ID_PATTERN

Schema = dict[str, Any]
Operation = dict[str, Any]

OPENAPI_PATH: Final = "/api/openapi.json"

ID: Final[Schema] = {"type": "string", "pattern": ID_PATTERN.pattern, "maxLength": 64}
TIER: Final[Schema] = {"type": "string", "enum": ["core", "active", "potential", "silent"]}
# An amount in the rules' currency, two decimals: "250.00".
MONEY: Final[Schema] = {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$"}
ERROR: Final[Schema] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z_]+$"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "invalid_text/invalid_field"},
                "reason": {"type": "string", "description": "the text rule refused"},
                "char": {"type": "string", "description": "the code point, e.g. U+202E"},
                "limit": {"type": "integer", "description": "the length limit"},
            },
        }
    },
}


def obj(required: tuple[str, ...] = (), extra: bool = True, **properties: Schema) -> Schema:
    """A JSON object schema with these ``properties`` (``required`` ones first)."""
    return object_of(properties, required, extra)


def object_of(
    properties: dict[str, Schema], required: tuple[str, ...] = (), extra: bool = True
) -> Schema:
    """:func:`obj` with the properties in a dict (for a set of fields shared by schemas)."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema


def path_param(name: str, schema: Schema = ID, what: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": what or f"The {name.replace('_', ' ')}.",
    }


def limit_param(default: int, high: int) -> dict[str, Any]:
    """The optional ``?limit`` query parameter: how many items, 1 to ``high``."""
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": high, "default": default},
        "description": f"How many items (1-{high}).",
    }


SESSION_PARAM: Final = path_param(
    "session",
    {
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    },
    "A room session: ROOM_ID:SESSION_ID.",
)


def query_limit(maximum: int, default: int) -> dict[str, Any]:
    """The optional ``?limit=`` of a list: a whole number from 1 to ``maximum``."""
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def operation(
    summary: str,
    ok: Schema | None,
    *,
    status: int = 200,
    also: tuple[int, ...] = (),
    params: list[dict[str, Any]] | None = None,
    body: Schema | None = None,
    errors: tuple[int, ...] = (400,),
    guarded: bool = True,
    content_type: str = "application/json",
    body_types: tuple[str, ...] = ("application/json",),
) -> Operation:
    """One operation: its success answer (``status``, and ``also`` with the same body),
    the refusals it can give, its body if any (``body`` under each of ``body_types``)."""
    responses: dict[str, Any] = {
        str(code): {
            "description": "Done.",
            "content": {content_type: {"schema": ok if ok is not None else {}}},
        }
        for code in (status, *also)
    }
    refusals = {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        413: "TooLarge",
        429: "TooMany",
        503: "Unavailable",
    }
    for code in errors:
        responses[str(code)] = _ref(refusals[code])
    if params and any(p["in"] == "path" for p in params):
        # A path parameter with a '/' (or none) names a path that does not exist.
        responses["404"] = _ref("NotFound")
    if body is not None:
        responses["413"] = _ref("TooLarge")
    if guarded:
        responses["401"] = _ref("Unauthorized")
        responses["503"] = _ref("Unavailable")
    op: Operation = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {media: {"schema": body} for media in body_types},
        }
    if not guarded:
        op["security"] = []
    return op


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


SERVICE_PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/healthz": {
        "get": operation(
            "Liveness: the process answers, with its number of live rooms.",
            obj(("ok", "rooms"), ok={"type": "boolean"}, rooms={"type": "integer"}),
            errors=(),
            guarded=False,
        )
    },
    "/metrics": {
        "get": operation(
            "Prometheus figures of this node (text exposition format).",
            {"type": "string"},
            errors=(),
            guarded=False,
            content_type="text/plain",
        )
    },
    OPENAPI_PATH: {
        "get": operation("This document.", {"type": "object"}, errors=(), guarded=False)
    },
}


def document(*parts: dict[str, dict[str, Operation]]) -> dict[str, Any]:
    """The whole OpenAPI document from each module's paths."""
    paths: dict[str, dict[str, Operation]] = {}
    for part in parts:
        for path, operations in part.items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Salon operator API",
            "version": "1",
            "description": (
                "Members, rooms, tokens, bans and removals, purchases, events, metrics, "
                "coupons and points rewards, webhooks, scheduled sessions and hook links "
                "(the hook routes the /r/CODE page calls need no key). "
                'Every refusal is {"error": {"code", "message"}}: 4xx for a request '
                "the server will not take, 503 `unavailable` when Redis cannot answer "
                "(retry later). Codes are listed in docs/protocol.md."
            ),
        },
        "paths": paths,
        "security": [{"adminKey": []}],
        "components": {
            "securitySchemes": {
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer <SALON_ADMIN_KEY> (the scheme is "
                    "required: the key alone is refused).",
                },
                "shopSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Salon-Signature",
                    "description": "POST /api/purchases only: t=<unix seconds>,v1=<hex "
                    'HMAC-SHA256 of "<t>." + body> with commerce.webhook_secret.',
                },
            },
            "schemas": {"Error": ERROR},
            "responses": {
                "BadRequest": _error("The request is malformed or a field is refused."),
                "Unauthorized": _error("No valid admin key (code `unauthorized`)."),
                "Forbidden": _error("The member may not do this (code `tier_too_low`)."),
                "NotFound": _error("No such item or path (code `not_found`)."),
                "Conflict": _error("The request conflicts with the current state."),
                "TooLarge": _error("The body is too large (code `too_large`)."),
                "TooMany": _error(
                    "Too many requests from this address or for this link (code "
                    "`rate_limited`; wait the Retry-After seconds)."
                ),
                "Unavailable": _error("Redis cannot answer now (code `unavailable`)."),
            },
        },
    }


def openapi_handler(doc: dict[str, Any]) -> Any:
    """``GET /api/openapi.json``: the document, serialised once."""
    body = json.dumps(doc, indent=1).encode()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return handle
