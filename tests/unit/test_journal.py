"""The event journal (real files in a temporary directory): segments released only once
Redis has their events, a dead process's journal recovered, torn records dropped, and
group commit (many waiters, few fsyncs) within the interval."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.engagement.journal import Journal
from server.engagement.journal_writer import JournalWriter
from server.engagement.records import HEADER
from server.settings import SettingsError, load_settings
from tests.support.waiting import eventually


def events(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(count)]


def on_disk(directory: Path) -> list[bytes]:
    """What a process starting now would recover from ``directory``."""
    return Journal(directory).recover()


def test_segments_leave_only_once_redis_has_all_their_events(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=30, keep_bytes=0)
    first, second, third = events("a", 5), events("b", 5), events("c", 2)
    for batch in (first, second, third):
        journal.append(batch)
    assert journal.segments == 3 and on_disk(tmp_path) == first + second + third
    journal.release(7)  # the first segment's five, two of the second's
    assert on_disk(tmp_path) == second + third
    journal.release(10)
    assert on_disk(tmp_path) == third
    journal.release(12)  # all of it: the current segment is emptied, not removed
    assert on_disk(tmp_path) == [] and journal.segments == 1
    journal.append([b"d"])  # and appended to again from its start
    assert on_disk(tmp_path) == [b"d"]
    journal.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_a_small_current_segment_is_kept_when_done(tmp_path: Path) -> None:
    """Emptying the file at every release made every fsync a metadata commit: below
    ``keep_bytes`` the written-out records stay (a crash replays them, harmlessly)."""
    journal = Journal(tmp_path, keep_bytes=100)
    journal.append(events("a", 5))  # 35 bytes
    journal.release(5)
    assert on_disk(tmp_path) == events("a", 5)
    journal.append(events("b", 10))  # 105 bytes in all
    journal.release(15)
    assert on_disk(tmp_path) == []
    journal.close(remove=True)


def test_a_dead_processes_journal_is_recovered_without_its_torn_record(tmp_path: Path) -> None:
    dead = Journal(tmp_path)
    dead.append([b"x1", b"x2"])
    dead.close(remove=False)  # killed: the file stays
    segment = next(tmp_path.glob("*.journal"))
    with segment.open("ab") as handle:
        handle.write(HEADER.pack(50) + b"half")
    heir = Journal(tmp_path)
    assert heir.recover() == [b"x1", b"x2"]
    assert segment.exists()  # until the heir has put them somewhere safe
    heir.discard()
    assert not segment.exists()


async def test_waiters_share_fsyncs_and_an_unwaited_event_lands_within_the_interval(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    writer = JournalWriter(interval=0.02, queue_max=1000, done=lambda: 0)
    writer.attach(journal)
    writer.start()
    try:
        writer.add(b"quiet")  # nobody waits: the interval is the bound
        await eventually(
            lambda: on_disk(tmp_path) == [b"quiet"],
            timeout=0.4,
            interval=0.002,
            what="the record journalled within the interval",
        )

        async def acknowledge(i: int) -> None:
            writer.add(f"rest-{i}".encode())
            await writer.durable(timeout=5)

        commits = writer.commits
        await asyncio.gather(*(acknowledge(i) for i in range(200)))
        assert writer.journalled == writer.recorded == 201
        assert writer.commits - commits < 50, "one fsync per request: no group commit"
        assert on_disk(tmp_path) == [b"quiet", *(f"rest-{i}".encode() for i in range(200))]
    finally:
        await writer.stop()
        journal.close(remove=True)


async def test_without_a_journal_only_redis_makes_an_event_durable() -> None:
    written = 0
    writer = JournalWriter(interval=0.02, queue_max=1000, done=lambda: written, enabled=False)
    writer.add(b"e1")
    waiting = asyncio.ensure_future(writer.durable(timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    written = 1  # the recorder's batch reached Redis
    writer.progress()
    await asyncio.wait_for(waiting, 1)


async def test_events_recorded_before_the_start_are_journalled_first(tmp_path: Path) -> None:
    """The journal's n-th record must be the n-th event recorded: ``release(done)``
    counts in that order, so an event left out would let a segment go too early."""
    writer = JournalWriter(interval=0.02, queue_max=1000, done=lambda: 0)
    writer.add(b"early")
    journal = Journal(tmp_path)
    writer.attach(journal)
    writer.start()
    try:
        writer.add(b"late")
        await writer.durable(timeout=5)
        assert on_disk(tmp_path) == [b"early", b"late"] and journal.appended == 2
    finally:
        await writer.stop()
        journal.close(remove=True)


def test_the_journal_interval_is_bounded() -> None:
    with pytest.raises(SettingsError, match="journal_interval"):
        load_settings(env={}, overrides={"engagement.journal_interval": 5}, need_secret=False)


async def test_a_journal_too_far_behind_switches_off_and_redis_alone_counts(
    tmp_path: Path,
) -> None:
    """Memory stays bounded when the disk stalls: past ``queue_max`` waiting events the
    journal stops (logged), and ``durable`` waits for Redis instead."""
    written = 0
    writer = JournalWriter(interval=0.02, queue_max=2, done=lambda: written)
    writer.attach(Journal(tmp_path))
    for payload in (b"a", b"b", b"c"):
        writer.add(payload)
    assert writer.lag == 0 and writer.recorded == 3
    writer.start()  # its task ends at once: journalling is off
    waiting = asyncio.ensure_future(writer.durable(timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    written = 3
    writer.progress()
    await asyncio.wait_for(waiting, 1)
    await writer.stop()


async def test_a_recorded_event_is_in_the_journal_file_before_add_returns(tmp_path: Path) -> None:
    """Issue 11 (b): events recorded in the journal interval before a ``kill -9`` were lost
    although the room had acknowledged them (a chat line is broadcast at once). ``add``
    hands each event to the kernel itself, so what any other process reads from the file
    right after ``add`` returns holds it, fsync or not (and in record order)."""
    journal = Journal(tmp_path)
    writer = JournalWriter(interval=60, queue_max=1000, done=lambda: 0)
    writer.attach(journal)
    writer.start()
    try:
        for i in range(3):
            writer.add(f"acked-{i}".encode())
            assert on_disk(tmp_path) == [f"acked-{j}".encode() for j in range(i + 1)]
        assert writer.journalled == 0 and writer.lag == 3  # not fsynced yet
        await writer.durable(timeout=5)
        assert writer.journalled == 3 and writer.lag == 0
    finally:
        await writer.stop()
        journal.close(remove=True)
