"""Recording live sessions for their replays: when to record, and the session's timeline.

``Recordings`` hangs on ``RoomService``'s hooks. When a room's host starts publishing and
the room's recording toggle is on (``ReplayStore``), the room's main feeds, the host's
camera and microphone, are recorded (``RoomMedia.start_recording``; speakers on the stage
are not: the replay is the host's show). From then on a ``Timeline`` on the room's bus
keeps the chat lines, deletions and product moments with their offsets from the start of
the recording. When the session ends the file is closed and the timeline written beside
it (``ReplayStore.save``). One recording per session: turning the toggle off stops it,
and on again records from the room's next session.

A room handed over to another node (drain, orderly stop, take-over after a kill) keeps
its session, and so its recording: the node it leaves closes its part and writes what it
knew of it; the new owner, when the host publishes there, records the next part
(``ReplayStore.next_part``); the node where the session ends joins the parts into the
session's one file (``join_webm``, a remux) with their timelines (``replay_parts``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from server.engagement.events import now_ms
from server.ids import ParticipantId, RoomId
from server.rooms.media import RecordingStats, WebmRecorder, join_webm
from server.rooms.replay_parts import TIMELINE_MAX, joined_meta
from server.rooms.replay_store import ReplayStore
from server.rooms.room import Room
from server.rooms.service import RoomService

logger = logging.getLogger(__name__)

# The bus subscriber id of a room's timeline (participant ids start with "p").
TIMELINE_ID = ParticipantId("replay-timeline")


class Timeline:
    """A room's bus subscriber noting what the replay shows, with offsets in seconds."""

    def __init__(self, started: float) -> None:
        self._started = started
        self.entries: list[dict[str, Any]] = []

    def room_event(self, kind: str, payload: dict[str, Any]) -> None:
        entry: dict[str, Any] | None = None
        if kind == "chat":
            author = payload.get("author") or {}
            entry = {
                "kind": "chat",
                "id": payload.get("id"),
                "name": author.get("name"),
                "role": author.get("role"),
                "text": payload.get("text"),
            }
        elif kind == "chat_deleted":
            entry = {"kind": "chat_deleted", "id": payload.get("id")}
        elif kind == "product":
            entry = {"kind": "product", "product": payload.get("product")}
        if entry is None or len(self.entries) >= TIMELINE_MAX:
            return
        entry["t"] = round(time.monotonic() - self._started, 2)
        self.entries.append(entry)


@dataclass
class _Recording:
    room: Room
    recorder: WebmRecorder
    timeline: Timeline
    started_ms: int
    host: str | None
    part: int = 1
    stopped: bool = False


class Recordings:
    """Starts, stops and saves the recordings of one node's live rooms."""

    def __init__(self, service: RoomService, store: ReplayStore, enabled: bool = True) -> None:
        self._service = service
        self._store = store
        self._enabled = enabled
        self._active: dict[RoomId, _Recording] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        service.live_hooks.append(self._on_live)
        service.close_hooks.append(self._on_close)

    def recording(self, room_id: RoomId) -> bool:
        active = self._active.get(room_id)
        return active is not None and not active.stopped

    # --- the toggle ---------------------------------------------------------------------

    async def set_recording(self, room_id: RoomId, on: bool) -> bool:
        """Turn ``room_id``'s recording on or off, now if live; whether it records now."""
        await self._store.set_recording(room_id, on)
        room = self._service.live_rooms.get(room_id)
        if room is None:
            return False
        if on:
            await self._start(room)
        else:
            await self._stop(room_id)
        return self.recording(room_id)

    # --- the room's hooks -------------------------------------------------------------

    def _known(self, room: Room) -> bool:
        """Whether this room (this opening of it) has had its recording started."""
        active = self._active.get(room.spec.room_id)
        return active is not None and active.room is room

    def _on_live(self, room: Room, live: bool, publisher: ParticipantId | None) -> None:
        if not live or not self._enabled or self._known(room):
            return
        task = asyncio.ensure_future(self._start_if_on(room))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("replay: starting a recording failed: %r", task.exception())

    async def _start_if_on(self, room: Room) -> None:
        try:
            on = await asyncio.wait_for(self._store.recording_on(room.spec.room_id), 2.0)
        except Exception as exc:
            logger.warning("replay: room %s's toggle unreadable (%r): not recorded", room, exc)
            return
        if on and self._service.live_rooms.get(room.spec.room_id) is room:
            await self._start(room)

    async def _start(self, room: Room) -> None:
        if not self._enabled or self._known(room):
            return
        session = room.session_id
        # A room handed over between nodes keeps its session: what earlier owners
        # recorded stays, and this node records the next part.
        part = await self._store.next_part(session)
        if self._known(room) or self._service.live_rooms.get(room.spec.room_id) is not room:
            return  # started meanwhile, or closed
        recorder = room.media.start_recording(self._store.part_path(session, part))
        if recorder is None:
            return
        timeline = Timeline(recorder.started)
        room.bus.subscribe(room.spec.room_id, TIMELINE_ID, timeline)
        host = room.get(room.media.publisher) if room.media.publisher else None
        self._active[room.spec.room_id] = _Recording(
            room, recorder, timeline, now_ms(), host.member_id if host else None, part
        )
        logger.info("room %s: recording session %s, part %d", room.spec.room_id, session, part)

    async def _stop(self, room_id: RoomId, ended: bool = True) -> None:
        """Stop ``room_id``'s recording; ``ended``: the session's recording ends here (else
        the room moves on to another node, which records the next part)."""
        active = self._active.get(room_id)
        if active is None or active.stopped:
            return
        active.stopped = True
        active.room.bus.unsubscribe(room_id, TIMELINE_ID)
        stats = await active.room.media.stop_recording()
        room = active.room
        meta = None
        if stats is None or not (stats.video_frames or stats.audio_frames):
            logger.warning("room %s: session %s recorded nothing", room_id, room.session_id)
        else:
            meta = self._part_meta(active, stats)
            logger.info(
                "room %s: session %s part %d recorded, %.1f s, %d packets dropped",
                room_id,
                room.session_id,
                active.part,
                stats.duration_ms / 1000,
                stats.queue_dropped,
            )
        if not ended:
            if meta is not None:
                await self._store.save_part(room.session_id, active.part, meta)
            return
        await self._finish(room, {active.part: meta} if meta is not None else {})

    @staticmethod
    def _part_meta(active: _Recording, stats: RecordingStats) -> dict[str, Any]:
        room = active.room
        return {
            "session": room.session_id,
            "room_id": room.spec.room_id,
            "title": room.spec.title,
            "host": active.host,
            "started_ms": active.started_ms,
            "ended_ms": now_ms(),
            "duration_ms": stats.duration_ms,
            "recorded": stats.as_dict(),
            "timeline": active.timeline.entries,
        }

    async def _finish(self, room: Room, known: dict[int, dict[str, Any]]) -> None:
        """The session's recording ends: its replay is written from its parts (``known``:
        descriptions this node holds, by part number)."""
        session = room.session_id
        found = await self._store.parts(session)
        parts = [(video, known.get(number, meta)) for number, video, meta in found]
        if not parts:
            return
        if len(parts) == 1 and parts[0][1] is not None:
            await self._store.save(session, parts[0][1])  # one owner recorded it all
            return
        joined = self._store.joined_path(session)
        spans = await asyncio.to_thread(join_webm, [video for video, _ in parts], joined)
        if not any(spans):
            logger.warning("room %s: session %s's parts hold nothing", room.spec.room_id, session)
            return
        await self._store.replace_video(session, joined)
        about = {"session": session, "room_id": room.spec.room_id, "title": room.spec.title}
        meta = joined_meta(about, [meta for _, meta in parts], spans, now_ms())
        await self._store.save(session, meta)
        await self._store.drop_parts(session)
        logger.info(
            "room %s: session %s recorded in %d parts, joined: %.1f s",
            room.spec.room_id,
            session,
            len(parts),
            meta["duration_ms"] / 1000,
        )

    async def _on_close(self, room: Room) -> None:
        """The room closes here: its session ends, or (``handed_over``) moves on."""
        ended = not room.handed_over
        if self._known(room):
            await self._stop(room.spec.room_id, ended)
            del self._active[room.spec.room_id]
        elif ended and self._enabled:
            await self._finish(room, {})  # parts other owners recorded, if any

    async def close(self) -> None:
        """Cancel pending starts (rooms' close hooks stop what records)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
