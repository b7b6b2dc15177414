"""The recorder's journal against a real Redis that the test freezes (SIGSTOP): an event
is durable (fsynced) while Redis cannot take it, and leaves the journal once Redis has
it; a recorder started again keeps its journal's records in step with its events."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.engagement.events import EventKind, encode, new_event
from server.engagement.journal import Journal
from server.engagement.recorder import EventRecorder
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import ADMIN_KEY, Restartable
from tests.support.streams import stream_ids
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def segments(root: Path) -> list[Path]:
    return list(root.rglob("*.journal"))


def journalled(root: Path) -> list[bytes]:
    """Every record in the journals under ``root`` (what a restart would replay)."""
    return [p for d in sorted(root.iterdir()) if d.is_dir() for p in Journal(d).recover()]


async def test_durable_while_redis_is_frozen_and_released_once_redis_has_it(
    own_redis: Restartable, tmp_path: Path
) -> None:
    server = await own_redis.up()
    client = Redis.from_url(server.url, socket_timeout=0.3, socket_connect_timeout=0.3)
    rec = EventRecorder(client, EngagementSettings(spill_dir=str(tmp_path)))
    await rec.start()
    try:
        server.process.send_signal(signal.SIGSTOP)
        # More than the journal keeps once written (``journal.KEEP_BYTES``).
        events = [new_event(EventKind.SHARE, "", MemberId(f"m{i}")) for i in range(1000)]
        for event in events:
            rec.record(event)
        await rec.durable(timeout=2)  # the journal, not Redis, made them safe
        assert rec.written == 0 and rec.journalled == 1000
        assert len(journalled(tmp_path)) == 1000
        server.process.send_signal(signal.SIGCONT)
        await rec.flush(timeout=10)
        assert set(await stream_ids(client)) == {e.id for e in events}

        async def released() -> bool:  # at the next round of the journal task
            return not journalled(tmp_path)

        await eventually(
            released, timeout=5, what="the journal released once Redis took its events"
        )
    finally:
        server.process.send_signal(signal.SIGCONT)
        await rec.stop()
        await client.aclose()
    assert not segments(tmp_path)  # a clean stop leaves none


async def test_a_recorder_started_again_keeps_its_journal_in_step(
    own_redis: Restartable, tmp_path: Path
) -> None:
    """Events recorded while it was stopped count as earlier ones: the new journal's
    first record is the first event after the start, so nothing leaves it too early."""
    server = await own_redis.up()
    client = Redis.from_url(server.url, socket_timeout=0.3, socket_connect_timeout=0.3)
    rec = EventRecorder(client, EngagementSettings(spill_dir=str(tmp_path)))
    member = MemberId("m")
    await rec.start()
    try:
        rec.record(new_event(EventKind.SHARE, "", member))
        await rec.stop()
        rec.record(new_event(EventKind.SHARE, "", member))  # while stopped
        await rec.start()
        server.process.send_signal(signal.SIGSTOP)
        late = new_event(EventKind.INVITE, "", member, invitee="x")
        rec.record(late)
        await rec.durable(timeout=2)
        await asyncio.sleep(0.6)  # a release round with Redis still frozen
        assert journalled(tmp_path)[-1:] == [encode(late)]
        server.process.send_signal(signal.SIGCONT)
        await rec.flush(timeout=10)
        assert len(await stream_ids(client)) == 3
    finally:
        server.process.send_signal(signal.SIGCONT)
        await rec.stop()
        await client.aclose()


async def test_metrics_show_the_journal(client: TestClient[Any, Any]) -> None:
    body = {"kind": "share", "member_id": "zed"}
    response = await client.post("/api/events", json=body, headers=AUTH)
    assert response.status == 202

    async def counted() -> bool:
        text = await (await client.get("/metrics")).text()
        assert "salon_event_journal_lag " in text
        return "salon_events_journalled_total 1.0" in text

    await eventually(counted, what="the metrics to count one journalled event")
