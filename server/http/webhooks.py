"""The operator's webhook routes, behind the admin key.

| method | path | summary | body fields |
| --- | --- | --- | --- |
| POST | /api/webhooks | register an endpoint (answers its secret once) | url, kinds, secret? |
| GET | /api/webhooks | list endpoints (secrets shortened) | |
| DELETE | /api/webhooks/{endpoint_id} | remove an endpoint and its queue | |
| GET | /api/webhooks/{endpoint_id}/deliveries | newest deliveries, state, attempts | ?limit |

``kinds`` is a list of ``store.KINDS`` or ``"*"``; ``secret`` (16-128 printable
characters) is generated when absent. ``PATHS`` describes these routes for the OpenAPI
document (``server/http/openapi.py``).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from server.http.common import Handler, RequestError, admin_only, query_int
from server.http.core import _body
from server.http.openapi import ID, Operation, Schema, limit_param, obj, operation, path_param
from server.settings import Settings
from server.webhooks.store import KINDS, MAX_URL, WebhookError, WebhookStore


def _refused(exc: WebhookError) -> RequestError:
    status = 404 if exc.code == "not_found" else 400
    return RequestError(status, exc.code, exc.sentence())


class WebhooksApi:
    def __init__(self, settings: Settings, store: WebhookStore) -> None:
        self._settings = settings
        self._store = store

    def routes(self) -> list[web.AbstractRouteDef]:
        def g(handler: Handler) -> Handler:
            return admin_only(self._settings, handler, unavailable=True)

        return [
            web.post("/api/webhooks", g(self.add)),
            web.get("/api/webhooks", g(self.list_endpoints)),
            web.delete("/api/webhooks/{endpoint_id}", g(self.remove)),
            web.get("/api/webhooks/{endpoint_id}/deliveries", g(self.deliveries)),
        ]

    async def add(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            endpoint = await self._store.add(body.get("url"), body.get("kinds"), body.get("secret"))
        except WebhookError as exc:
            raise _refused(exc) from None
        return web.json_response(endpoint.to_json(with_secret=True), status=201)

    async def list_endpoints(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"endpoints": [e.to_json() for e in await self._store.endpoints()]}
        )

    async def remove(self, request: web.Request) -> web.Response:
        endpoint_id = request.match_info["endpoint_id"]
        try:
            await self._store.remove(endpoint_id)
        except WebhookError as exc:
            raise _refused(exc) from None
        return web.json_response({"id": endpoint_id, "removed": True})

    async def deliveries(self, request: web.Request) -> web.Response:
        endpoint_id = request.match_info["endpoint_id"]
        limit = query_int(request, "limit", 50, 1, 500)
        try:
            items = await self._store.deliveries(endpoint_id, limit)
        except WebhookError as exc:
            raise _refused(exc) from None
        return web.json_response({"id": endpoint_id, "deliveries": items})


_KIND: Final[Schema] = {"type": "string", "enum": [*KINDS, "*"]}
_ENDPOINT: Final[Schema] = obj(
    ("id", "url", "kinds", "secret", "created_ms"),
    id=ID,
    url={"type": "string"},
    kinds={"type": "array", "items": _KIND},
    secret={"type": "string", "description": "Whole when registered, shortened in lists."},
    created_ms={"type": "integer"},
)
_DELIVERY: Final[Schema] = obj(
    ("id", "kind", "queued_ms", "state", "attempts"),
    id={"type": "string"},
    kind={"type": "string"},
    queued_ms={"type": "integer"},
    state={"type": "string"},
    attempts={"type": "integer"},
)
_ENDPOINT_PARAM: Final = path_param("endpoint_id", what="The endpoint's id.")

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/webhooks": {
        "post": operation(
            "Register an endpoint for these event kinds; the answer holds its whole secret "
            "(the only time it is shown).",
            _ENDPOINT,
            status=201,
            body=obj(
                ("url", "kinds"),
                url={"type": "string", "maxLength": MAX_URL, "description": "http(s) URL."},
                kinds={
                    "oneOf": [
                        {"type": "array", "items": _KIND, "minItems": 1},
                        {"type": "string", "description": "Comma-separated kinds, or *."},
                    ]
                },
                secret={"type": "string", "minLength": 16, "maxLength": 128},
            ),
        ),
        "get": operation(
            "The registered endpoints (secrets shortened).",
            obj(("endpoints",), endpoints={"type": "array", "items": _ENDPOINT}),
            errors=(),
        ),
    },
    "/api/webhooks/{endpoint_id}": {
        "delete": operation(
            "Remove an endpoint and its delivery queue.",
            obj(("id", "removed"), id={"type": "string"}, removed={"type": "boolean"}),
            params=[_ENDPOINT_PARAM],
            errors=(404,),
        )
    },
    "/api/webhooks/{endpoint_id}/deliveries": {
        "get": operation(
            "An endpoint's newest deliveries, newest first, with state and attempts.",
            obj(
                ("id", "deliveries"),
                id={"type": "string"},
                deliveries={"type": "array", "items": _DELIVERY},
            ),
            params=[
                _ENDPOINT_PARAM,
                limit_param(50, 500),
            ],
            errors=(400, 404),
        )
    },
}
