"""Redis stopped and restarted while events flow: memory, then the disk spill, then Redis.

Every event recorded is accounted for afterwards (in the stream, and applied exactly once
by the scorer), none is dropped, and ``record`` never waits for anything.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from redis.asyncio import Redis

from server.engagement.events import EventKind, new_event
from server.engagement.recorder import EventRecorder
from server.engagement.rules import parse_rules
from server.engagement.scorer import Scorer
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import Restartable
from tests.support.streams import stream_ids

RULES = parse_rules({"half_life_days": 100000, "points": {"join": 1.0}}, "test rules")


async def test_events_survive_a_redis_outage_through_the_disk_spill(
    own_redis: Restartable, tmp_path: Path
) -> None:
    server = await own_redis.up()
    client = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    settings = EngagementSettings(
        buffer_max=400, batch_size=100, spill_dir=str(tmp_path / "spill"), spill_file_bytes=20_000
    )
    rec = EventRecorder(client, settings)
    recorded: list[str] = []
    durations: list[float] = []
    members = [MemberId(f"m{i}") for i in range(50)]

    async def produce(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(25):
                event = new_event(EventKind.JOIN, "room", members[len(recorded) % 50])
                started = time.perf_counter()
                rec.record(event)
                durations.append(time.perf_counter() - started)
                recorded.append(event.id)
            await asyncio.sleep(0.005)  # about 5,000 events a second

    try:
        await rec.start()
        await produce(0.3)
        await rec.flush()
        before = len(recorded)  # these are in the first server, which is about to go
        await own_redis.down()
        await produce(1.0)  # Redis is gone: memory fills, then the spill takes over
        assert rec.spilled > 0 and rec.spill_depth > 0
        assert rec.depth <= settings.buffer_max
        assert list((tmp_path / "spill").rglob("*.spill"))
        await own_redis.up()  # an empty server on the same port
        await produce(0.5)  # events keep coming while the backlog is written
        await rec.flush(timeout=30)
        assert (rec.dropped, rec.depth, rec.spill_depth) == (0, 0, 0)
        assert rec.refilled == rec.spilled
        # record() is plain synchronous code with no I/O; on a busy machine the OS may
        # still pause the process now and then, hence a percentile.
        durations.sort()
        p99 = durations[int(len(durations) * 0.99)]
        assert p99 < 0.002, f"record() p99 {p99 * 1000:.2f} ms, max {durations[-1] * 1000:.1f} ms"
        assert not list((tmp_path / "spill").rglob("*.spill")), "spill files left behind"
    finally:
        await rec.stop()
    # Every event recorded since the first server went is in the new one's stream (a
    # batch whose reply was lost may be there twice), and nothing else is.
    expected = recorded[before:]
    in_stream = await stream_ids(client)
    assert set(in_stream) == set(expected)
    # The scorer applies each of them exactly once.
    scorer = Scorer(client, EngagementSettings(spill_dir=""), "s1", rules=RULES)
    while await scorer.process_once(count=1000):
        pass
    assert scorer.applied == len(expected)
    assert scorer.duplicates == sum(in_stream.values()) - len(expected)
    await client.aclose()


async def test_events_left_at_shutdown_are_written_by_the_next_start(
    own_redis: Restartable, tmp_path: Path
) -> None:
    """Stopping while Redis is down saves the buffer to disk; the next recorder (a new
    process, say) finds the files and writes them."""
    server = await own_redis.up()
    client = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    settings = EngagementSettings(spill_dir=str(tmp_path / "spill"))
    first = EventRecorder(client, settings)
    await first.start()
    await own_redis.down()
    events = [new_event(EventKind.JOIN, "room", MemberId(f"m{i}")) for i in range(300)]
    for event in events:
        first.record(event)
    await first.stop(timeout=0.5)
    assert list((tmp_path / "spill").rglob("*.spill"))
    await own_redis.up()
    second = EventRecorder(client, settings)
    try:
        await second.start()
        await second.flush(timeout=15)
    finally:
        await second.stop()
    assert set(await stream_ids(client)) == {e.id for e in events}
    await client.aclose()
