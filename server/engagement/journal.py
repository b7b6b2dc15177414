"""The recorder's write-ahead journal: every recorded event is on disk within a bounded
window, and stays there until Redis has it.

The spill (``spill.py``) holds events that do not fit in memory; the journal holds a copy
of *every* event, so that a process killed while events wait in memory loses none. It
lives in the spill's instance directory (``<spill_dir>/<instance>/``, owned through the
spill's lock) as segments ``<sequence>.journal`` framed like the spill
(``records.py``). Records are written (``write``: one ``write(2)``, no fsync) by the
event loop as each event is recorded, so that a process killed with ``kill -9`` has
already handed every event it acknowledged to the kernel; ``sync`` (fsync, for power
loss) runs in a thread, batched; ``append`` does both. Each segment remembers the
ordinal of its last record (events journalled by this process, counted from 1). A lock
keeps the writes, the syncs and the releases of the two threads apart; nobody holds it
across an fsync. ``release(done)`` — once Redis has the first ``done`` events — deletes
the segments all of whose records are done and empties the current one when all of its
are and it holds at least ``keep_bytes`` (emptying it each time would make every fsync
a metadata commit: five times slower here); a segment that reaches ``segment_bytes`` is
closed and the next one started.

After a crash the next process adopts the directory (``Spill.open`` moves its journal
segments along with its spill files); ``recover`` then reads them, the recorder puts
their events at the front of the spill, and ``discard`` deletes them. Events that had
reached Redis come back then: the ledger and the session counts skip an event id they
have already applied (docs/decisions.md, "Durable events").

Every method but ``write`` does blocking file I/O: the recorder calls them through
``asyncio.to_thread``, one call at a time; ``write`` is a small write to the page cache
(microseconds), made on the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from server.engagement.records import pack, unpack

logger = logging.getLogger(__name__)

SUFFIX: Final = ".journal"
# Below this, a current segment whose events are all in Redis is kept as it is: a crash
# then replays at most this much (a few hundred events) that Redis already has.
KEEP_BYTES: Final = 64 * 1024


@dataclass
class _Segment:
    path: Path
    # Ordinal of the last record written to it (0: none yet).
    last: int = 0
    size: int = 0


class Journal:
    """Append-only journal segments in one directory; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = 8 * 1024 * 1024,
        keep_bytes: int = KEEP_BYTES,
    ) -> None:
        self._dir = directory
        self._segment_bytes = segment_bytes
        self._keep_bytes = keep_bytes
        self._closed: deque[_Segment] = deque()
        self._current: _Segment | None = None
        self._out: IO[bytes] | None = None
        self._sequence = 0
        self._recovered: list[Path] = []
        # Files rotated out by ``write``: ``sync`` fsyncs and closes them.
        self._unsynced: list[IO[bytes]] = []
        self._lock = threading.Lock()
        # Records written by this process (in the kernel; ``sync`` makes them durable).
        self.appended = 0

    def recover(self) -> list[bytes]:
        """The events of journal segments already in the directory (left by a process that
        died), oldest first; a torn record at a segment's end is dropped with a warning.
        The segments stay until ``discard``."""
        payloads: list[bytes] = []
        self._recovered = sorted(self._dir.glob(f"*{SUFFIX}"))
        for path in self._recovered:
            data = path.read_bytes()
            found, end = unpack(data)
            if end != len(data):
                logger.warning(
                    "journal %s ends in a torn record: %d bytes dropped", path, len(data) - end
                )
            payloads.extend(found)
        return payloads

    def discard(self) -> None:
        """Delete the segments ``recover`` read (their events are safe elsewhere now)."""
        for path in self._recovered:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._recovered = []

    def append(self, payloads: list[bytes]) -> None:
        """Write ``payloads`` durably (flushed and fsynced) after every earlier record."""
        self.append_framed(pack(payloads), len(payloads))

    def append_framed(self, blob: bytes, count: int) -> None:
        """``append`` for ``count`` records already framed (``records.pack``) in ``blob``."""
        self.write(blob, count)
        self.sync()

    def write(self, blob: bytes, count: int) -> None:
        """Hand ``count`` framed records to the kernel after every earlier record (they
        survive the death of this process, not a power loss: see ``sync``)."""
        if not count:
            return
        with self._lock:
            segment = self._current
            if segment is None or segment.size >= self._segment_bytes:
                segment = self._rotate()
            assert self._out is not None
            try:
                view = memoryview(blob)
                while view:
                    view = view[os.write(self._out.fileno(), view) :]
            except OSError:
                # Maybe a torn record at the end: never append after it.
                self._rotate()
                raise
            self.appended += count
            segment.last, segment.size = self.appended, segment.size + len(blob)

    def sync(self) -> int:
        """Fsync what was written; return how many records are durable now."""
        with self._lock:
            covered = self.appended
            current = self._out
            rotated, self._unsynced = self._unsynced, []
        try:
            for handle in rotated:
                os.fsync(handle.fileno())
            if current is not None:
                os.fsync(current.fileno())
        except OSError:
            with self._lock:
                self._unsynced[:0] = rotated
            raise
        for handle in rotated:
            handle.close()
        return covered

    def _rotate(self) -> _Segment:
        """A new current segment (with the lock held); the old file waits for ``sync``."""
        if self._out is not None:
            self._unsynced.append(self._out)
            self._out = None
        if self._current is not None:
            self._closed.append(self._current)
            self._current = None
        self._sequence += 1
        path = self._dir / f"{self._sequence:012d}{SUFFIX}"
        self._out = path.open("ab", buffering=0)
        self._current = _Segment(path)
        return self._current

    def release(self, done: int) -> None:
        """Redis has the first ``done`` records: drop every segment that holds no other,
        and the current one's content if it is ``keep_bytes`` or more."""
        with self._lock:
            gone = []
            while self._closed and self._closed[0].last <= done:
                gone.append(self._closed.popleft().path)
            current = self._current
            if (
                current is not None
                and current.size >= max(1, self._keep_bytes)
                and current.last <= done
            ):
                assert self._out is not None
                # The file is opened for appending: the next write goes to offset 0 again.
                os.ftruncate(self._out.fileno(), 0)
                current.size = 0
        for path in gone:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @property
    def segments(self) -> int:
        """Segment files this journal has open or kept."""
        with self._lock:
            return len(self._closed) + (self._current is not None)

    def close(self, remove: bool) -> None:
        """Close the current segment; ``remove`` deletes every segment (their events are
        in Redis or in the spill)."""
        with self._lock:
            for handle in [*self._unsynced, *([self._out] if self._out else [])]:
                with contextlib.suppress(OSError):
                    os.fsync(handle.fileno())
                handle.close()
            self._unsynced, self._out = [], None
            segments = [*self._closed, *([self._current] if self._current else [])]
            self._closed.clear()
            self._current = None
        if remove:
            for segment in segments:
                with contextlib.suppress(FileNotFoundError):
                    segment.path.unlink()
