"""``POST /api/import/events``: a brand's past events, in bulk, at their original times.

The body is CSV (``Content-Type: text/csv``) or JSON Lines (anything else), in the format
of ``server/engagement/history_import.py``; ``?dry_run=1`` checks it and writes nothing.
The answer lists every rejected row with its line number, code and sentence; the good
rows are imported (idempotently: a row's ``id`` is applied once, however often it is
sent). Parsing runs in a thread; folding yields to the loop between script calls.
``PATHS`` is its part of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from server.engagement.aggregates import Aggregates
from server.engagement.history_import import (
    COLUMNS,
    REASONS,
    drop_unknown_members,
    parse_events,
    write_history,
)
from server.engagement.ledger import Ledger
from server.engagement.rules import Rules
from server.engagement.scoring import now_ms
from server.http.common import RequestError, admin_only, read_capped
from server.http.openapi import Operation, obj, operation
from server.redis_client import RedisClient
from server.settings import Settings

MAX_BODY: Final = 64 * 1024 * 1024
MAX_LISTED: Final = 1000  # rejected rows listed one by one in the answer
DRY_RUN: Final = ("1", "true", "yes")


class HistoryImportApi:
    def __init__(self, settings: Settings, redis: RedisClient, rules: Rules) -> None:
        self._settings = settings
        self._redis = redis
        self._rules = rules
        self._ledger = Ledger(redis, rules, history=True)
        self._aggregates = Aggregates(redis, rules)

    def routes(self) -> list[web.AbstractRouteDef]:
        guarded = admin_only(self._settings, self.post, unavailable=True)
        return [web.post("/api/import/events", guarded)]

    async def post(self, request: web.Request) -> web.Response:
        dry_run = request.query.get("dry_run", "") in DRY_RUN
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


# --- the OpenAPI description of the route above ----------------------------------------

_COUNT: Final = {"type": "integer", "minimum": 0}
_ROWS: Final = {
    "type": "string",
    "description": (
        "CSV with a header (Content-Type: text/csv) or JSON Lines (any other type), one "
        f"event a row; columns or keys: {', '.join(COLUMNS)} (JSON may nest the kind's "
        "fields under `data`). id, kind, member_id and at are required."
    ),
}

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/import/events": {
        "post": operation(
            "Import past events at their original times, idempotently (a row's id is applied "
            "once). Bad rows are listed, with their line, code and sentence, and left out; "
            "the good ones are imported (not with `dry_run`). The counts of what was "
            "written come only when something was.",
            obj(
                ("rows", "good", "rejected_count", "rejected", "dry_run"),
                rows={**_COUNT, "description": "Rows read (blank lines aside)."},
                good={**_COUNT, "description": "Rows that would be or were imported."},
                rejected_count=_COUNT,
                rejected={
                    "type": "array",
                    "maxItems": MAX_LISTED,
                    "description": f"The first {MAX_LISTED} rows left out, by line.",
                    "items": obj(
                        ("line", "code", "message"),
                        line={"type": "integer", "minimum": 1},
                        code={"type": "string", "enum": sorted(REASONS)},
                        message={"type": "string"},
                    ),
                },
                dry_run={"type": "boolean"},
                applied=_COUNT,
                duplicates={**_COUNT, "description": "Rows imported before (same id)."},
                new_orders=_COUNT,
                members=_COUNT,
                tier_changes=_COUNT,
            ),
            params=[
                {
                    "name": "dry_run",
                    "in": "query",
                    "required": False,
                    "description": f"{', '.join(DRY_RUN)}: check the rows, write nothing.",
                    "schema": {"type": "string"},
                }
            ],
            body=_ROWS,
            body_types=("text/csv", "application/x-ndjson", "text/plain"),
            errors=(400,),
        )
    },
}
