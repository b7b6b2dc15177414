"""The recorder's disk spill: events that do not fit in memory wait in files for Redis.

Files live in ``<spill_dir>/<instance>/``, named by a sequence number, each a run of
records ``<4-byte big-endian length><encoded event>``. The process owns its instance
directory through an exclusive ``flock`` on ``<instance>/lock``; when it opens, it adopts
the files of every sibling directory whose lock is free (a process that stopped or
crashed with events on disk), so those are written too. A torn record at the end of a
file (a crash mid-write) is dropped with a warning.

Every method does blocking file I/O, so the recorder calls them through
``asyncio.to_thread``: one writer (appending) and one reader (refilling) at a time; a
lock keeps the shared bookkeeping consistent between those two threads. A file is
deleted only after the recorder says its events are in Redis (``remove``): until then a
crash replays it (the scorer deduplicates by event id).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from server.engagement import journal
from server.engagement.records import HEADER, pack, unpack

__all__ = ["HEADER", "Spill"]

logger = logging.getLogger(__name__)

SUFFIX: Final = ".spill"
READ_CHUNK: Final = 4 * 1024 * 1024
# Sequence numbers start high so that files written in front of the others (the memory
# buffer saved at shutdown) can still sort first.
FIRST_SEQUENCE: Final = 10**9


@dataclass
class _File:
    path: Path
    sequence: int
    records: int = 0
    size: int = 0
    read_records: int = 0
    read_offset: int = 0
    # No more appends: the writer moves on to a newer file.
    closed: bool = False
    # The writer thread is appending to it right now (the reader must not finish it).
    writing: bool = False

    @property
    def unread(self) -> int:
        return self.records - self.read_records


class Spill:
    """Append-only spill files with a read cursor; see the module docstring."""

    def __init__(self, directory: str | Path, file_bytes: int = 8 * 1024 * 1024) -> None:
        self._root = Path(directory)
        self._file_bytes = file_bytes
        self._dir: Path | None = None
        self._lock_handle: IO[bytes] | None = None
        self._files: list[_File] = []
        # The writer thread's open file; only that thread (or close()) touches it.
        self._out: IO[bytes] | None = None
        self._out_file: _File | None = None
        self._guard = threading.Lock()
        self._low = self._high = FIRST_SEQUENCE

    @property
    def directory(self) -> Path | None:
        return self._dir

    @property
    def root(self) -> Path:
        """The folder shared by the instance directories of the nodes of a machine."""
        return self._root

    @property
    def depth(self) -> int:
        """Events on disk not yet read back."""
        with self._guard:
            return sum(f.unread for f in self._files)

    def open(self) -> int:
        """Create and lock our directory, adopt orphaned files (journal segments too);
        return events waiting in spill files."""
        if self._dir is not None:
            return self.depth
        self._root.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Created hidden and locked, then renamed: another node of the machine adopting
        # dead directories (``adoption.py``) never sees ours without its lock held.
        hidden = self._root / f".{name}"
        hidden.mkdir()
        handle = (hidden / "lock").open("wb")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        directory = self._root / name
        hidden.rename(directory)
        self._dir, self._lock_handle = directory, handle
        for other in sorted(self._root.iterdir()):
            if other != directory and other.is_dir() and not other.name.startswith("."):
                self._adopt(other)
        return self.depth

    def _adopt(self, other: Path) -> None:
        ours = self._dir
        assert ours is not None
        try:
            # ``orphans`` (adoption.py) takes the same lock: one adopter at a time.
            with (other / "lock").open("ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                found = sorted(other.glob(f"*{SUFFIX}"))
                for path in found:
                    target = self._next_path(back=False)
                    path.rename(target)
                    self._files.append(self._scan(target))
                # Its journal comes along; the recorder reads it (``journal.recover``).
                for path in sorted(other.glob(f"*{journal.SUFFIX}")):
                    path.rename(ours / f"{other.name}-{path.name}")
                shutil.rmtree(other, ignore_errors=True)
        except BlockingIOError:
            return  # another live process owns it
        except FileNotFoundError:
            return  # adopted and deleted by another node meanwhile
        except OSError as exc:
            logger.warning("cannot adopt spill directory %s: %s", other, exc)
            return
        waiting = sum(f.unread for f in self._files)
        if found:
            logger.info("adopted %d spill files from %s (%d events)", len(found), other, waiting)

    def _scan(self, path: Path) -> _File:
        entry = _File(path, int(path.stem), closed=True)
        data = path.read_bytes()
        found, offset = unpack(data)
        entry.records = len(found)
        if offset != len(data):
            logger.warning(
                "spill file %s ends in a torn record: %d bytes dropped", path, len(data) - offset
            )
        entry.size = offset
        return entry

    def _next_path(self, back: bool) -> Path:
        """A new file name after (or, ``back``, before) every name handed out so far."""
        assert self._dir is not None
        if back:
            self._low -= 1
            sequence = self._low
        else:
            self._high += 1
            sequence = self._high
        return self._dir / f"{sequence:012d}{SUFFIX}"

    def append(self, payloads: list[bytes], front: bool = False) -> None:
        """Write ``payloads`` durably (flushed and fsynced). ``front`` puts them in a file
        of their own that is read before all the others."""
        if not payloads:
            return
        blob = pack(payloads)
        if front:
            with self._guard:
                entry = _File(self._next_path(back=True), 0, closed=True)
                entry.sequence = int(entry.path.stem)
            with entry.path.open("wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            with self._guard:
                entry.records, entry.size = len(payloads), len(blob)
                self._files.insert(0, entry)
            return
        with self._guard:
            last = self._files[-1] if self._files and not self._files[-1].closed else None
            if last is not None and last.size >= self._file_bytes:
                last.closed = True
                last = None
            if last is None:
                last = _File(self._next_path(back=False), 0)
                last.sequence = int(last.path.stem)
                self._files.append(last)
            current = last
            current.writing = True
        written = False
        try:
            if self._out_file is not current:
                if self._out is not None:
                    self._out.close()
                self._out, self._out_file = None, None
                self._out, self._out_file = current.path.open("ab"), current
            assert self._out is not None
            self._out.write(blob)
            self._out.flush()
            os.fsync(self._out.fileno())
            written = True
        finally:
            with self._guard:
                current.writing = False
                if written:
                    current.records += len(payloads)
                    current.size += len(blob)
                else:
                    # Maybe a torn record at the end: never append after it. Reads stop
                    # at ``size``, before it.
                    current.closed = True

    def read(self, limit: int) -> tuple[list[bytes], list[Path]]:
        """Read up to ``limit`` events, oldest first. Also returns the files now read to
        the end; pass them to ``remove`` once their events are in Redis."""
        payloads: list[bytes] = []
        finished: list[Path] = []
        while len(payloads) < limit:
            with self._guard:
                entry = next((f for f in self._files if f.unread > 0), None)
                if entry is None:
                    break
                end = entry.size
            with entry.path.open("rb") as handle:
                handle.seek(entry.read_offset)
                data = handle.read(min(end - entry.read_offset, READ_CHUNK))
            offset = count = 0
            while len(payloads) < limit and offset + HEADER.size <= len(data):
                (length,) = HEADER.unpack_from(data, offset)
                if offset + HEADER.size + length > len(data):
                    break
                payloads.append(data[offset + HEADER.size : offset + HEADER.size + length])
                offset += HEADER.size + length
                count += 1
            if count == 0 and len(data) > 0:
                # A single record larger than READ_CHUNK: read it whole.
                (length,) = HEADER.unpack_from(data, 0)
                with entry.path.open("rb") as handle:
                    handle.seek(entry.read_offset + HEADER.size)
                    payloads.append(handle.read(length))
                offset, count = HEADER.size + length, 1
            with self._guard:
                entry.read_offset += offset
                entry.read_records += count
                if entry.unread == 0 and not entry.writing:
                    entry.closed = True  # the writer starts a new file next time
                    self._files.remove(entry)
                    finished.append(entry.path)
        return payloads, finished

    def remove(self, paths: list[Path]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def close(self) -> None:
        """Release our directory (removed if empty, else left for the next process)."""
        with self._guard:
            if self._out is not None:
                self._out.close()
            self._out, self._out_file = None, None
        if self._dir is None:
            return
        if not any(self._dir.glob(f"*{SUFFIX}")) and not any(self._dir.glob(f"*{journal.SUFFIX}")):
            shutil.rmtree(self._dir, ignore_errors=True)
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
        self._dir = None
        self._files = []
