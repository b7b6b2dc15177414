"""``salon consult list|show``: the consultations with their status, length and orders."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from server.cli.main import main
from server.consult.model import Consultation, Status
from server.consult.store import ConsultStore
from server.devtools.redis_embed import EmbeddedRedis
from server.ids import MemberId


def test_the_cli_lists_consultations_with_their_outcome(
    cli_env: None, redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed() -> None:
        redis = Redis.from_url(redis_server.url)
        try:
            await redis.flushdb()
            store = ConsultStore(redis)
            record = Consultation("c1", MemberId("cora"), "Cora", "vip", "s1", "", 1)
            await store.create(record)
            ended = replace(record, status=Status.ENDED, advisor_id="host", seconds=42.5)
            await store.move(record, replace(ended, status=Status.ACCEPTED))
            await store.move(replace(ended, status=Status.ACCEPTED), ended)
            await store.add_order("c1", "o-9")
        finally:
            await redis.aclose()

    asyncio.run(seed())
    assert main(["consult", "list"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t") == [
        "c1",
        "ended",
        "member=cora",
        "advisor=host",
        "from=vip",
        "seconds=42.5",
        "orders=o-9",
    ]
    assert main(["consult", "show", "c1"]) == 0
    assert json.loads(capsys.readouterr().out)["orders"] == ["o-9"]
    assert main(["consult", "show", "nope"]) == 2
    assert capsys.readouterr().err.startswith("salon: not_found: ")
