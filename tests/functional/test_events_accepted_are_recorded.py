"""``POST /api/events`` answers 202 only for events it can record (issue 9, defect 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from tests.functional.conftest import ADMIN_KEY
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
PURCHASE = '{"kind": "purchase", "member_id": "zed", "order_id": "SO-9", "amount": "5.00", '
PURCHASE += '"currency": "EUR", "at": %s}'


async def stream_event_ids(redis: Redis) -> list[str]:
    return [decode(fields[STREAM_FIELD]).id for _, fields in await redis.xrange(STREAM_KEY)]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (PURCHASE % "-1000000000000000000000000000000", "before 2000"),
        (PURCHASE % "-1e30", "epoch milliseconds"),
        (PURCHASE % '"0001-01-01T00:00:00Z"', "before 2000"),
        ('{"kind": "share", "member_id": "zed", "channel": "\\ud800"}', "surrogate"),
        ('{"kind": "share", "member_id": "zed", "channel": "a\\u202eb"}', "bidi"),
        (
            '{"kind": "external", "member_id": "z", "action": "hook_click", "source": "a\\u0000"}',
            "",
        ),
    ],
)
async def test_an_event_that_cannot_be_recorded_is_refused_before_the_answer(
    client: TestClient[Any, Any], redis: Redis, body: str, words: str
) -> None:
    """Regression (issue 9, defect 4): a purchase ``at: -1e30`` and a share whose channel
    held a lone surrogate were answered 202, then dropped as "not recorded"."""
    response = await client.post("/api/events", headers=AUTH, data=body.encode())
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_event" and words in error["message"], error
    # A good event after the bad one is the marker: once it is in the stream, the bad
    # one would have been too.
    marker = {"kind": "share", "member_id": "zed", "id": "marker"}
    ok = await client.post("/api/events", headers=AUTH, data=json.dumps(marker).encode())
    assert ok.status == 202

    async def marker_arrived() -> bool:
        return bool(await stream_event_ids(redis))

    await eventually(marker_arrived, what="the marker event in the stream")
    assert await stream_event_ids(redis) == ["x-marker"]
