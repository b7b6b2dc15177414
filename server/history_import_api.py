"""``POST /api/import/events``: a brand's past events, in bulk, at their original times.

The body is CSV (``Content-Type: text/csv``) or JSON Lines (anything else), in the format
of ``server/engagement/history_import.py``; ``?dry_run=1`` checks it and writes nothing.
The answer lists every rejected row with its line number, code and sentence; the good
rows are imported (idempotently: a row's ``id`` is applied once, however often it is
sent). Parsing runs in a thread; folding yields to the loop between script calls.
``PATHS`` describes the route for the OpenAPI document.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from redis.asyncio import Redis

from server.engagement.aggregates import Aggregates
from server.engagement.history_import import drop_unknown_members, parse_events, write_history
from server.engagement.ledger import Ledger
from server.engagement.rules import Rules
from server.engagement.scoring import now_ms
from server.http_common import RequestError, admin_only, read_capped
from server.openapi import Operation, Schema, obj, operation
from server.settings import Settings

MAX_BODY = 64 * 1024 * 1024
MAX_LISTED = 1000  # rejected rows listed one by one in the answer


class HistoryImportApi:
    def __init__(self, settings: Settings, redis: Redis, rules: Rules) -> None:
        self._settings = settings
        self._redis = redis
        self._rules = rules
        self._ledger = Ledger(redis, rules, history=True)
        self._aggregates = Aggregates(redis, rules)

    def routes(self) -> list[web.AbstractRouteDef]:
        guarded = admin_only(self._settings, self.post, unavailable=True)
        return [web.post("/api/import/events", guarded)]

    async def post(self, request: web.Request) -> web.Response:
        dry_run = request.query.get("dry_run", "") in ("1", "true", "yes")
        raw = await read_capped(request, MAX_BODY)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RequestError(400, "invalid_body", "The body must be UTF-8 text.") from None
        fmt = "csv" if request.content_type == "text/csv" else "jsonl"
        parsed = await asyncio.to_thread(parse_events, text, fmt, self._rules, now_ms())
        await drop_unknown_members(self._redis, parsed)
        answer: dict[str, Any] = {
            "rows": parsed.rows,
            "good": len(parsed.events),
            "rejected_count": len(parsed.rejected),
            "rejected": [r.to_json() for r in parsed.rejected[:MAX_LISTED]],
            "dry_run": dry_run,
        }
        if not dry_run and parsed.events:
            result = await write_history(self._ledger, self._aggregates, parsed.events)
            answer.update(
                applied=result.applied,
                duplicates=result.duplicates,
                new_orders=result.new_orders,
                members=result.members,
                tier_changes=result.tier_changes,
            )
        return web.json_response(answer)


_COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
_TEXT: Final[Schema] = {"type": "string", "description": "One event per row or line."}
_IMPORT: Final[Operation] = operation(
    "Import past events (CSV with Content-Type text/csv, else JSON Lines) at their "
    "original times; every rejected row is listed with its line, code and sentence.",
    obj(
        ("rows", "good", "rejected_count", "rejected", "dry_run"),
        rows=_COUNT,
        good=_COUNT,
        rejected_count=_COUNT,
        rejected={
            "type": "array",
            "items": obj(
                ("line", "code", "message"),
                line={"type": "integer"},
                code={"type": "string"},
                message={"type": "string"},
            ),
        },
        dry_run={"type": "boolean"},
        applied=_COUNT,
        duplicates=_COUNT,
        new_orders=_COUNT,
        members=_COUNT,
        tier_changes=_COUNT,
    ),
    params=[
        {
            "name": "dry_run",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["1", "true", "yes", "0"]},
            "description": "1, true or yes: check the rows and write nothing.",
        }
    ],
    body=_TEXT,
)
_IMPORT["requestBody"] = {
    "required": True,
    "content": {"text/csv": {"schema": _TEXT}, "application/x-ndjson": {"schema": _TEXT}},
}

PATHS: Final[dict[str, dict[str, Operation]]] = {"/api/import/events": {"post": _IMPORT}}
