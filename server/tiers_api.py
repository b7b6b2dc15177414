"""``GET /api/metrics/at-risk``: the members flagged at risk, most valuable first, with
the value at stake (issue 14). The flag itself is decided by the scorer
(``server/engagement/tiers.py``, ``at_risk``)."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from server.engagement.reports import Reports
from server.engagement.rules import Rules
from server.http_common import admin_only
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
        text = request.query.get("limit", "100")
        limit = int(text) if text.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            return web.json_response(
                {"error": {"code": "invalid_field", "message": f"limit must be 1 to {MAX_LIMIT}."}},
                status=400,
            )
        return web.json_response(await self._reports.at_risk(limit))
