"""When a consultation starts and ends, seen from its private room.

It starts when both of its people are in the room for the first time and ends when one
of them leaves after that (a page that comes back does not reopen it): both recorded as
engagement events (``consultation_started``; ``consultation_ended`` with ``seconds``),
the record updated in Redis and ``consultation.ended`` sent. Called synchronously by
``RoomService.record_hooks`` with every join and leave; Redis work runs in tasks owned
by the room service.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from server.consult.model import ConsultError, Status, consult_of
from server.consult.service import Publish
from server.consult.store import ConsultStore
from server.engagement.events import EventKind, now_ms
from server.ids import MemberId
from server.rooms.model import RoomKind
from server.rooms.room import Room
from server.rooms.service import RoomService

logger = logging.getLogger(__name__)

MAX_ENDED = 10_000


@dataclass(slots=True)
class _Started:
    monotonic: float
    wall_ms: int
    advisor: str


class ConsultTracker:
    def __init__(
        self, rooms: RoomService, store: ConsultStore, publish: Publish, attribution_s: int
    ) -> None:
        self._rooms = rooms
        self._store = store
        self._publish = publish
        self._attribution_s = attribution_s
        self._started: dict[str, _Started] = {}
        # Ended here (oldest first, the newest MAX_ENDED kept): a page that comes back
        # does not start them again.
        self._ended: dict[str, None] = {}

    def on_record(self, kind: EventKind, room: Room, member_id: MemberId, data: Any) -> None:
        spec = room.spec
        consult_id = consult_of(spec.room_id)
        if spec.kind is not RoomKind.CONSULT or consult_id is None or consult_id in self._ended:
            return
        if kind is EventKind.JOIN and consult_id not in self._started:
            present = [room.current_of(m) for m in spec.invites]
            if len(present) < 2 or not all(present):
                return
            hosts = [p.member_id for p in present if p is not None and p.role.value == "host"]
            advisor = hosts[0] if hosts else ""
            member = next(m for m in spec.invites if m != advisor)
            began = _Started(time.monotonic(), now_ms(), advisor)
            self._started[consult_id] = began
            self._rooms.record(
                EventKind.CONSULTATION_STARTED,
                room,
                member,
                consultation=consult_id,
                advisor=advisor,
            )
            self._rooms.spawn(room, self._save_start(consult_id, began.wall_ms), "consult start")
        elif kind is EventKind.LEAVE and consult_id in self._started:
            began = self._started.pop(consult_id)
            self._ended[consult_id] = None
            while len(self._ended) > MAX_ENDED:
                del self._ended[next(iter(self._ended))]
            seconds = round(time.monotonic() - began.monotonic, 3)
            member = next((m for m in spec.invites if m != began.advisor), member_id)
            self._rooms.record(
                EventKind.CONSULTATION_ENDED,
                room,
                member,
                consultation=consult_id,
                advisor=began.advisor,
                seconds=seconds,
            )
            end = self._save_end(consult_id, seconds, began.wall_ms)
            self._rooms.spawn(room, end, "consult end")

    async def _save_start(self, consult_id: str, started_ms: int) -> None:
        record = await self._store.need(consult_id)
        if record.status is not Status.ACCEPTED:
            return
        try:
            # Only while still accepted: an end saved first must not be undone.
            await self._store.move(record, replace(record, started_ms=started_ms))
        except ConsultError as exc:
            logger.info("consultation %s: start not saved (%s)", consult_id, exc.code)

    async def _save_end(self, consult_id: str, seconds: float, started_ms: int) -> None:
        record = await self._store.need(consult_id)
        if record.status is not Status.ACCEPTED:
            return
        ended = replace(record.moved("end", now_ms()), seconds=seconds, started_ms=started_ms)
        await self._store.move(record, ended)
        await self._store.mark_last(ended, self._attribution_s)
        self._publish(
            "consultation.ended",
            {
                "consultation": ended.id,
                "member_id": ended.member_id,
                "advisor_id": ended.advisor_id,
                "seconds": seconds,
                "room_id": ended.room_id,
            },
        )
        logger.info("consultation %s ended after %.1f s", consult_id, seconds)
