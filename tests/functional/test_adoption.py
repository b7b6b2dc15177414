"""Adoption of a killed process's events by a live one (issue 11 a), real files and a real
Redis: a recorder process killed with SIGKILL while Redis could not take its last events
leaves them in its instance directory; a live recorder of the same spill root writes them
to the stream within its adoption interval, each event once (those that had reached
Redis before the kill are not written again), and deletes the directory."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, decode
from server.engagement.recorder import EventRecorder
from server.settings import EngagementSettings
from tests.functional.conftest import Restartable
from tests.support.waiting import eventually

# The process to kill: 50 events written to Redis, then (Redis frozen by the test) 50
# more recorded; it says so after each phase and waits to be killed.
CHILD = """
import asyncio, sys
from redis.asyncio import Redis
from server.engagement.events import EventKind, new_event
from server.engagement.recorder import EventRecorder
from server.ids import MemberId
from server.settings import EngagementSettings

async def main(url, root):
    redis = Redis.from_url(url, socket_timeout=0.3, socket_connect_timeout=0.3)
    settings = EngagementSettings(spill_dir=root, journal_interval=1.0)
    rec = EventRecorder(redis, settings, adopt_every=0)
    await rec.start()
    for i in range(50):
        rec.record(new_event(EventKind.CHAT, "", MemberId(f"m{i}")))
    await rec.flush(timeout=10)
    print("flushed", flush=True)
    sys.stdin.readline()  # Redis is frozen now
    for i in range(50, 100):
        rec.record(new_event(EventKind.CHAT, "", MemberId(f"m{i}")))
    print("recorded", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def chat_members(redis: Redis) -> Counter[str]:
    """How many times each member's chat event is in the stream."""
    return Counter(
        str(decode(fields[STREAM_FIELD]).member_id) for _, fields in await redis.xrange(STREAM_KEY)
    )


async def test_a_live_recorder_adopts_a_killed_ones_events_once_each(
    own_redis: Restartable, tmp_path: Path
) -> None:
    server = await own_redis.up()
    redis = Redis.from_url(server.url)
    root = tmp_path / "spill"
    live = EventRecorder(redis, EngagementSettings(spill_dir=str(root)), adopt_every=0.2)
    await live.start()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, server.url, str(root),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"flushed\n"
        server.process.send_signal(signal.SIGSTOP)
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"recorded\n"
        child.kill()  # right after recording: nothing waited for the journal's fsync
        await child.wait()
    finally:
        server.process.send_signal(signal.SIGCONT)
        if child.returncode is None:
            child.kill()
            await child.wait()
    try:
        expected = Counter({f"m{i}": 1 for i in range(100)})
        await eventually(
            lambda: chat_members(redis),
            until=lambda found: found == expected,
            timeout=15,
            what="each of the killed recorder's 100 events in the stream once",
        )
        adopter = live.adopter
        assert adopter is not None
        # The killed recorder wakes on record() and may have handed some writes to the
        # stopped Redis's socket before the kill (they land when it resumes): the adopter
        # then finds those ids already in the stream. Either way it adopts the directory.
        await eventually(
            lambda: adopter.directories, until=lambda n: n == 1, what="the directory adopted"
        )
        # The stream still holds each event once (adoption skipped what had landed).
        assert await chat_members(redis) == expected
        # The killed one's directory is gone: only the live recorder's is left.
        await eventually(lambda: len(list(root.iterdir())), until=lambda n: n == 1, what="one dir")
    finally:
        await live.stop()
        await redis.aclose()
