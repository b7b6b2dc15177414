"""``GET /api/metrics/at-risk``: the members flagged at risk, most valuable first, with
the value at stake (issue 14). The flag itself is decided by the scorer
(``server/engagement/tiers.py``, ``at_risk``). ``PATHS`` is its part of the OpenAPI
document."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from server.engagement.reports import Reports
from server.engagement.rules import Rules
from server.http.common import RequestError, admin_only
from server.http.openapi import ID, MONEY, Operation, obj, operation, query_limit
from server.redis_client import RedisClient
from server.settings import Settings

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100


def parse_limit(text: str) -> int:
    """``?limit=`` as a whole number from 1 to ``MAX_LIMIT``, or ``RequestError`` 400.

    ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` then refuses (a 500
    before this check)."""
    limit = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise RequestError(400, "invalid_field", f"limit must be 1 to {MAX_LIMIT}.")
    return limit


class TiersApi:
    def __init__(self, settings: Settings, redis: RedisClient, rules: Rules) -> None:
        self._settings = settings
        self._reports = Reports(redis, rules)

    def routes(self) -> list[web.AbstractRouteDef]:
        guarded = admin_only(self._settings, self.at_risk, unavailable=True)
        return [web.get("/api/metrics/at-risk", guarded)]

    async def at_risk(self, request: web.Request) -> web.Response:
        limit = parse_limit(request.query.get("limit", str(DEFAULT_LIMIT)))
        return web.json_response(await self._reports.at_risk(limit))


# --- the OpenAPI description of the route above ----------------------------------------

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/metrics/at-risk": {
        "get": operation(
            "Members flagged at risk, most valuable first, with the value of their orders "
            "in the window (what is at stake); `limit` bounds `top`, not the totals.",
            obj(
                ("currency", "window_days", "members", "value_at_stake", "top"),
                currency={"type": "string"},
                window_days={"type": "number"},
                members={"type": "integer", "description": "Every member flagged."},
                value_at_stake=MONEY,
                top={
                    "type": "array",
                    "maxItems": MAX_LIMIT,
                    "items": obj(
                        ("member_id", "value_in_window"),
                        member_id=ID,
                        value_in_window=MONEY,
                    ),
                },
            ),
            params=[query_limit(MAX_LIMIT, DEFAULT_LIMIT)],
        )
    },
}
