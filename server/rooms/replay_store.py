"""Where replays live: the recording toggle in Redis, the files on disk.

- The toggle: ``salon:{r:ROOM}:record`` ("1" while on; absent: off), next to the room's
  definition in its hash slot. An operator turns it on or off (REST, CLI); a session that
  goes live while it is on is recorded.
- The files, one pair per recorded session under ``replay.dir``: ``SESSION.webm`` (the
  host's audio and video) and ``SESSION.json`` (the room, times, what was recorded, and
  the timeline: chat lines and product moments with their offsets in seconds). The JSON is
  written when the session ends (renamed into place whole); until then there is no replay.

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

    async def save(self, session: str, meta: dict[str, Any]) -> None:
        """Write ``session``'s description and timeline (whole, or not at all)."""
        path = self._meta_path(session)

        def write() -> None:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)

        await asyncio.to_thread(write)

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
