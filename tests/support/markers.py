"""Markers for negative checks: something sent after the action under test, through the
same path, so that once the marker has arrived whatever the action would have caused has
arrived too. Then absence can be asserted without guessing a time."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from tests.support.waiting import eventually


async def marker_event(client: TestClient[Any, Any], redis: Redis, admin_key: str) -> None:
    """Record an external event through the server's recorder and wait until it is in the
    stream: an event the server recorded (or would have recorded) before it is there by
    then, since the recorder writes in order."""
    marker = f"marker-{secrets.token_hex(4)}"
    body = {"kind": "share", "member_id": "marker", "id": marker}
    headers = {"Authorization": f"Bearer {admin_key}"}
    response = await client.post("/api/events", json=body, headers=headers)
    assert response.status == 202, await response.text()

    async def arrived() -> bool:
        entries = await redis.xrange(STREAM_KEY)
        return any(decode(fields[STREAM_FIELD]).id.endswith(marker) for _, fields in entries)

    await eventually(arrived, what=f"the marker event {marker} in the stream")
