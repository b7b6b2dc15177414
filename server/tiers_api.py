"""``GET /api/metrics/at-risk``: the members flagged at risk, most valuable first, with
the value at stake (issue 14). The flag itself is decided by the scorer
(``server/engagement/tiers.py``, ``at_risk``). ``PATHS`` describes the route for the
OpenAPI document."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from redis.asyncio import Redis

from server.engagement.reports import Reports
from server.engagement.rules import Rules
from server.http_common import admin_only, query_int
from server.openapi import ID, Operation, Schema, limit_param, obj, operation
from server.settings import Settings

MAX_LIMIT = 1000


class TiersApi:
    def __init__(self, settings: Settings, redis: Redis, rules: Rules) -> None:
        self._settings = settings
        self._reports = Reports(redis, rules)

    def routes(self) -> list[web.AbstractRouteDef]:
        guarded = admin_only(self._settings, self.at_risk, unavailable=True)
        return [web.get("/api/metrics/at-risk", guarded)]

    async def at_risk(self, request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 100, 1, MAX_LIMIT)
        return web.json_response(await self._reports.at_risk(limit))


_MONEY: Final[Schema] = {"type": "string", "description": "A decimal amount, e.g. 12.50."}

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/metrics/at-risk": {
        "get": operation(
            "The members flagged at risk, most valuable first, with the value at stake.",
            obj(
                ("currency", "window_days", "members", "value_at_stake", "top"),
                currency={"type": "string"},
                window_days={"type": "number"},
                members={"type": "integer"},
                value_at_stake=_MONEY,
                top={
                    "type": "array",
                    "items": obj(
                        ("member_id", "value_in_window"), member_id=ID, value_in_window=_MONEY
                    ),
                },
            ),
            params=[limit_param(100, MAX_LIMIT)],
        )
    }
}
