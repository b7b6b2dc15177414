"""The operator's webhook routes, behind the admin key.

| method | path | summary | body fields |
| --- | --- | --- | --- |
| POST | /api/webhooks | register an endpoint (answers its secret once) | url, kinds, secret? |
| GET | /api/webhooks | list endpoints (secrets shortened) | |
| DELETE | /api/webhooks/{endpoint_id} | remove an endpoint and its queue | |
| GET | /api/webhooks/{endpoint_id}/deliveries | newest deliveries, state, attempts | ?limit |

``kinds`` is a list of ``store.KINDS`` or ``"*"``; ``secret`` (16-128 printable
characters) is generated when absent.
"""

from __future__ import annotations

from aiohttp import web

from server.api import _body
from server.http_common import Handler, RequestError, admin_only
from server.settings import Settings
from server.webhooks.store import WebhookError, WebhookStore


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
        raw = request.query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise RequestError(400, "invalid_field", "limit must be a whole number from 1 to 500.")
        try:
            items = await self._store.deliveries(endpoint_id, int(raw))
        except WebhookError as exc:
            raise _refused(exc) from None
        return web.json_response({"id": endpoint_id, "deliveries": items})
