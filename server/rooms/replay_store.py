"""Where replays live: the recording toggle in Redis, the files on disk.

- The toggle: ``salon:{r:ROOM}:record`` ("1" while on; absent: off), next to the room's
  definition in its hash slot. An operator turns it on or off (REST, CLI); a session that
  goes live while it is on is recorded.
- The files, one pair per recorded session under ``replay.dir``: ``SESSION.webm`` (the
  host's audio and video) and ``SESSION.json`` (the room, times, what was recorded, and
  the timeline: chat lines and product moments with their offsets in seconds). The JSON is
  written when the session ends (renamed into place whole); until then there is no replay.
- A session handed over between nodes is recorded in parts, one per owner: part 1 is
  ``SESSION.webm`` itself, the next ones ``parts/SESSION/N.webm``; each owner that hands the
  room on leaves its part's description in ``parts/SESSION/N.json``. When the session ends
  the parts are joined into ``SESSION.webm`` (``server/media/recorder_join.py``) and the
  part files removed. Every node that may own the room must see the same ``replay.dir``.

File reads and writes run in a thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from server.ids import RoomId, is_valid_id
from server.redis_client import RedisClient


def record_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:record"


class ReplayStore:
    """The toggle (Redis) and the recorded sessions (files under ``directory``)."""

    def __init__(self, redis: RedisClient, directory: str | Path) -> None:
        self._redis = redis
        self.directory = Path(directory)

    # --- the toggle ---------------------------------------------------------------------

    async def recording_on(self, room_id: RoomId) -> bool:
        return bool(await self._redis.exists(record_key(room_id)))

    async def set_recording(self, room_id: RoomId, on: bool) -> None:
        if on:
            await self._redis.set(record_key(room_id), "1")
        else:
            await self._redis.delete(record_key(room_id))

    # --- the files ----------------------------------------------------------------------

    def video_path(self, session: str) -> Path:
        """The WebM file of ``session`` (the caller checked the id: ``is_valid_id``)."""
        return self.directory / f"{session}.webm"

    def _meta_path(self, session: str) -> Path:
        return self.directory / f"{session}.json"

    # --- the parts of a session recorded by several owners ---------------------------------

    def _parts_dir(self, session: str) -> Path:
        return self.directory / "parts" / session

    def part_path(self, session: str, part: int) -> Path:
        """Where part ``part`` (from 1) of ``session`` is recorded."""
        return self.video_path(session) if part == 1 else self._parts_dir(session) / f"{part}.webm"

    async def next_part(self, session: str) -> int:
        """The number of the part a recording of ``session`` starting now writes."""

        def first_free() -> int:
            part = 1
            while self.part_path(session, part).exists():
                part += 1
            return part

        return await asyncio.to_thread(first_free)

    async def save_part(self, session: str, part: int, meta: dict[str, Any]) -> None:
        """Keep what a part's owner knew of it (its times and timeline) for the join."""
        path = self._parts_dir(session) / f"{part}.json"
        await asyncio.to_thread(_write_json, path, meta)

    async def parts(self, session: str) -> list[tuple[int, Path, dict[str, Any] | None]]:
        """``session``'s recorded parts, in order: number, video, description (None when
        its owner died before writing one). Part 1 described by a finished replay counts
        as described (its owner ended the session, and it went on again elsewhere)."""

        def scan() -> list[tuple[int, Path, dict[str, Any] | None]]:
            found = []
            part = 1
            while (video := self.part_path(session, part)).exists():
                meta = _read_json(self._parts_dir(session) / f"{part}.json")
                if meta is None and part == 1:
                    meta = _read_json(self._meta_path(session))
                found.append((part, video, meta))
                part += 1
            return found

        return await asyncio.to_thread(scan)

    def joined_path(self, session: str) -> Path:
        """Where ``session``'s parts are joined before the result replaces part 1."""
        return self._parts_dir(session) / "joined.webm"

    async def replace_video(self, session: str, joined: Path) -> None:
        """Make ``joined`` the video of ``session`` (renamed into place whole)."""
        await asyncio.to_thread(os.replace, joined, self.video_path(session))

    async def drop_parts(self, session: str) -> None:
        """Remove ``session``'s part files (once they are joined into its replay)."""

        def drop() -> None:
            folder = self._parts_dir(session)
            if folder.is_dir():
                for path in folder.iterdir():
                    path.unlink(missing_ok=True)
                folder.rmdir()

        await asyncio.to_thread(drop)

    async def save(self, session: str, meta: dict[str, Any]) -> None:
        """Write ``session``'s description and timeline (whole, or not at all)."""
        await asyncio.to_thread(_write_json, self._meta_path(session), meta)

    async def sessions(self, room_id: RoomId) -> list[dict[str, Any]]:
        """``room_id``'s finished recordings, newest first: session, title, times."""
        keys = ("session", "title", "started_ms", "ended_ms", "duration_ms")

        def scan() -> list[dict[str, Any]]:
            found = []
            for path in self.directory.glob("*.json"):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict) and data.get("room_id") == room_id:
                    found.append({k: data.get(k) for k in keys})
            return sorted(found, key=lambda d: d.get("started_ms") or 0, reverse=True)

        return await asyncio.to_thread(scan)

    async def load(self, session: str) -> dict[str, Any] | None:
        """A finished recording's description and timeline; None if there is none."""
        if not is_valid_id(session):
            return None
        path = self._meta_path(session)
        video = self.video_path(session)

        def read() -> dict[str, Any] | None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                return None
            return data if isinstance(data, dict) and video.is_file() else None

        return await asyncio.to_thread(read)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` whole (renamed into place), making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
