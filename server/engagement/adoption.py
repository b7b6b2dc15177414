"""Adoption at run time: a live node writes to the stream the events that a dead node of the
same machine left in its spill directory (spill files and journal segments).

Nodes of one machine share one spill root (``engagement.spill_dir``), each in an instance
directory it holds locked (``spill.py``). A directory whose lock is free belongs to a
process that is gone (killed, crashed, or stopped with events left over). Every
``every`` seconds ``Adopter`` looks for such directories, takes the lock of each (so no
other node adopts it at the same time), reads its records file by file, leaves out the
events the stream already has (those that had reached Redis before the death: found by id
among the stream's entries since the oldest one's time, minus ``SLACK_MS``, at most
``SCAN_MAX`` entries) and those it read twice (an event is in the journal and in a spill
file), writes the rest through ``write`` (the recorder's batched XADD) and deletes the
directory. A node that dies while adopting leaves the directory for the next adopter; the
events it had written come again, and the consumers skip ids they have applied (the
ledger, the session counts). Without a shared root (nodes on different machines), a
dead node's directory is adopted when a node starts on that disk (``Spill.open``).

File reads and the decoding of ids run in a thread; the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from redis.exceptions import RedisError

from server.engagement import journal, spill
from server.engagement.events import STREAM_FIELD, EventDecodeError, decode
from server.engagement.records import unpack
from server.redis_client import RedisClient

logger = logging.getLogger(__name__)

# Seconds between two looks for dead nodes' directories.
ADOPT_EVERY_S: Final = 2.0
# The stream is searched for the adopted events' ids from the oldest one's time minus
# this (node clocks and Redis's differ a little), for at most ``SCAN_MAX`` entries.
SLACK_MS: Final = 60_000
SCAN_MAX: Final = 200_000
SCAN_PAGE: Final = 2_000


@dataclass
class Orphan:
    """A dead process's instance directory, locked by this one while adopting it."""

    path: Path
    handle: IO[bytes]

    def files(self) -> list[Path]:
        """Its spill files, then its journal segments, oldest first."""
        return [
            *sorted(self.path.glob(f"*{spill.SUFFIX}")),
            *sorted(self.path.glob(f"*{journal.SUFFIX}")),
        ]

    def finish(self) -> None:
        """Its events are in Redis: delete it, then let go of its lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.handle.close()

    def let_go(self) -> None:
        """Adoption failed: unlock it for the next adopter."""
        self.handle.close()


def orphans(root: Path, ours: Path | None) -> list[Orphan]:
    """Every instance directory under ``root`` but ``ours`` whose lock is free, locked now
    (hidden ones are being created: never adopted)."""
    found: list[Orphan] = []
    try:
        entries = sorted(root.iterdir())
    except FileNotFoundError:
        return found
    for path in entries:
        if path == ours or path.name.startswith(".") or not path.is_dir():
            continue
        try:
            handle = (path / "lock").open("ab")
        except OSError:
            continue  # removed meanwhile (adopted by another node)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()  # a live process owns it, or another node adopts it now
            continue
        if not path.exists():  # adopted and deleted between our open and our lock
            handle.close()
            continue
        found.append(Orphan(path, handle))
    return found


def read_records(path: Path) -> list[bytes]:
    """The whole records of one spill file or journal segment (a torn last one dropped)."""
    data = path.read_bytes()
    records, end = unpack(data)
    if end != len(data):
        logger.warning("%s ends in a torn record: %d bytes dropped", path, len(data) - end)
    return records


def identify(payloads: Iterable[bytes]) -> list[tuple[str | None, int, bytes]]:
    """(id, ts_ms, payload) of each payload; an undecodable one gets no id (written as it is)."""
    out: list[tuple[str | None, int, bytes]] = []
    for payload in payloads:
        try:
            event = decode(payload)
        except EventDecodeError:
            out.append((None, 0, payload))
        else:
            out.append((event.id, event.ts_ms, payload))
    return out


def ids_of(entries: list[Any]) -> set[str]:
    """The event ids of stream entries (``XRANGE``'s reply)."""
    found: set[str] = set()
    for _, fields in entries:
        raw = (fields or {}).get(STREAM_FIELD)
        if not isinstance(raw, bytes):
            continue
        with contextlib.suppress(EventDecodeError):
            found.add(decode(raw).id)
    return found


class Adopter:
    """Adopts dead nodes' directories under ``root``; see the module docstring."""

    def __init__(
        self,
        redis: RedisClient,
        stream_key: str,
        root: Path,
        ours: Callable[[], Path | None],
        write: Callable[[list[bytes]], Awaitable[None]],
        every: float = ADOPT_EVERY_S,
    ) -> None:
        self._redis = redis
        self._stream_key = stream_key
        self._root = root
        self._ours = ours
        self._write = write
        self._every = every
        # Events written to the stream from adopted directories, and directories adopted.
        self.adopted = 0
        self.directories = 0

    async def run(self) -> None:
        """Adopt every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.adopt()
            except (RedisError, OSError) as exc:
                logger.warning("adopting dead nodes' events failed (%s); trying again", exc)

    async def adopt(self) -> int:
        """Adopt every orphaned directory now; return the events written."""
        found = await asyncio.to_thread(orphans, self._root, self._ours())
        written = 0
        for index, orphan in enumerate(found):
            try:
                written += await self._adopt_one(orphan)
            except BaseException:
                for left in found[index:]:
                    left.let_go()
                raise
        return written

    async def _adopt_one(self, orphan: Orphan) -> int:
        files = await asyncio.to_thread(orphan.files)
        seen: set[str] = set()
        written = 0
        for path in files:
            records = await asyncio.to_thread(read_records, path)
            known = await asyncio.to_thread(identify, records)
            in_stream = await self._in_stream(min((t for i, t, _ in known if i), default=0))
            fresh: list[bytes] = []
            for event_id, _, payload in known:
                if event_id is not None:
                    if event_id in seen or event_id in in_stream:
                        continue
                    seen.add(event_id)
                fresh.append(payload)
            if fresh:
                await self._write(fresh)
                written += len(fresh)
        await asyncio.to_thread(orphan.finish)
        self.adopted += written
        self.directories += 1
        logger.warning(
            "adopted %s of a process that is gone: %d events written to the stream",
            orphan.path,
            written,
        )
        return written

    async def _in_stream(self, oldest_ms: int) -> set[str]:
        """Ids of the stream's entries since ``oldest_ms`` (minus the slack)."""
        if not oldest_ms:
            return set()
        start = f"{max(0, oldest_ms - SLACK_MS)}-0"
        found: set[str] = set()
        scanned = 0
        while scanned < SCAN_MAX:
            entries = await self._redis.xrange(self._stream_key, min=start, count=SCAN_PAGE)
            if not entries:
                break
            found |= await asyncio.to_thread(ids_of, entries)
            scanned += len(entries)
            if len(entries) < SCAN_PAGE:
                break
            last = entries[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return found
