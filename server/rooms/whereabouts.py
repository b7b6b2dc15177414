"""Where each member is live, across nodes: ``salon:{m:MEMBER}:live``, a hash of room id
to the node that holds the member's socket, that node's start, the room session, the
participant, when they joined and the role they joined as (JSON).

A purchase reported to any node is credited to the room session the member is in
(``server/http/commerce.py``); the node that took the REST call reads this index for the
rooms other nodes hold. The node that holds the socket writes it: one queue and one task
per node, in order (a leave never overtakes its join), so a room never waits on it; a
write that fails is logged and dropped (it is a hint for attribution: the room works
without it). A leave removes the entry only if it is still that participant's, so a
member who moved to another node keeps the newer entry. A reader keeps only entries whose
node is live with the same start (``live``), so a node that died leaves nothing behind.
A node taking a room over reads the entries a dead owner left (``lost``): whose page was
there, since when, to record their leave (server/rooms/lost_pages.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import Atomic, RedisClient
from server.rooms.model import Participant
from server.rooms.room import Room

logger = logging.getLogger(__name__)

# A member's index outlives their last join or leave by a day (a member who never comes
# back leaves no key forever); entries of dead nodes are ignored before that.
TTL_S: Final = 24 * 3600
QUEUE_LIMIT: Final = 10_000
STOP_TIMEOUT: Final = 2.0
# HDEL the room's entry only if it is still this participant's.
_FORGET: Final = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw)['participant'] == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def live_key(member_id: str) -> str:
    return f"salon:{{m:{member_id}}}:live"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Whereabout:
    """One live room a member is in, on ``node``."""

    room_id: RoomId
    session: str
    node: str
    started_ms: int
    participant: str
    joined_ms: int
    # The role joined as ("" in entries written before it was kept).
    role: str = ""

    def encode(self) -> str:
        return json.dumps(
            {
                "session": self.session,
                "node": self.node,
                "started": self.started_ms,
                "participant": self.participant,
                "joined": self.joined_ms,
                "role": self.role,
            }
        )

    @classmethod
    def decode(cls, room_id: bytes | str, raw: bytes | str) -> Whereabout | None:
        """The entry, or None if it is not one (written by something else)."""
        room = room_id.decode() if isinstance(room_id, bytes) else room_id
        try:
            data: Any = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not (isinstance(data, dict) and is_valid_id(room)):
            return None
        session, node, participant = (data.get(k) for k in ("session", "node", "participant"))
        started, joined = data.get("started"), data.get("joined")
        if not (
            isinstance(session, str) and isinstance(node, str) and isinstance(participant, str)
        ):
            return None
        if not (type(started) is int and type(joined) is int):
            return None
        role = data.get("role")
        return cls(
            RoomId(room),
            session,
            node,
            started,
            participant,
            joined,
            role if isinstance(role, str) else "",
        )


def live(entries: Iterable[Whereabout], nodes: dict[str, int]) -> list[Whereabout]:
    """The ``entries`` whose node is live with the same start (``nodes``: id -> start)."""
    return [e for e in entries if nodes.get(e.node) == e.started_ms]


class Whereabouts:
    """This node's writer of the index, and a reader of every node's entries."""

    def __init__(self, redis: RedisClient, node: str, started_ms: int) -> None:
        self._redis = redis
        self.node = node
        self._started_ms = started_ms
        self._changes: asyncio.Queue[tuple[str, MemberId, str, str]] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        # A flag as well as the cancellation: redis-py may turn a cancelled write into a
        # connection error, which the loop would otherwise log and go on from.
        self._stopping = False
        self._full = False

    def joined(self, room: Room, participant: Participant) -> None:
        entry = Whereabout(
            RoomId(room.room_id),
            room.session_id,
            self.node,
            self._started_ms,
            participant.participant_id,
            now_ms(),
            participant.role.value,
        )
        self._put(("join", participant.member_id, room.room_id, entry.encode()))

    def left(self, room: Room, participant: Participant) -> None:
        self._put(("leave", participant.member_id, room.room_id, participant.participant_id))

    async def lost(
        self, room_id: RoomId, session: str, members: Iterable[MemberId]
    ) -> list[tuple[MemberId, Whereabout]]:
        """The entries of ``members`` in ``room_id``'s ``session`` written by another node,
        or by an earlier start of this one: pages that were on a dead owner."""
        ordered = list(members)
        raw = await asyncio.gather(*(self._redis.hget(live_key(m), room_id) for m in ordered))
        found: list[tuple[MemberId, Whereabout]] = []
        for member, value in zip(ordered, raw, strict=True):
            entry = Whereabout.decode(room_id, value) if value is not None else None
            if entry is None or entry.session != session:
                continue
            if (entry.node, entry.started_ms) == (self.node, self._started_ms):
                continue
            found.append((member, entry))
        return found

    def forget(self, member_id: MemberId, entry: Whereabout) -> None:
        """Remove ``entry`` (if still that participant's): its leave is recorded."""
        self._put(("leave", member_id, entry.room_id, entry.participant))

    def _put(self, item: tuple[str, MemberId, str, str]) -> None:
        try:
            self._changes.put_nowait(item)
            self._full = False
        except asyncio.QueueFull:
            if not self._full:
                logger.warning("whereabouts: %d writes waiting; dropping new ones", QUEUE_LIMIT)
            self._full = True

    async def where(self, member_id: MemberId) -> list[Whereabout]:
        """Every entry of ``member_id`` (any node, live or not: see ``live``)."""
        raw: dict[Any, Any] = await self._redis.hgetall(live_key(member_id))
        found = (Whereabout.decode(room, value) for room, value in raw.items())
        return [entry for entry in found if entry is not None]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="whereabouts")

    async def stop(self) -> None:
        """Write what is queued (briefly), then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._changes.join()), STOP_TIMEOUT)
        self._stopping = True
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)

    async def _run(self) -> None:
        while not self._stopping:
            kind, member, room, value = await self._changes.get()
            try:
                await self._write(kind, member, room, value)
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("whereabouts: %s of %s in %s not written (%s)", kind, member,
                               room, type(exc).__name__)  # fmt: skip
            finally:
                self._changes.task_done()

    async def _write(self, kind: str, member: MemberId, room: str, value: str) -> None:
        key = live_key(member)
        if kind == "join":
            tx = Atomic(self._redis, key)
            tx.hset(key, room, value)
            tx.expire(key, TTL_S)
            await tx.execute()
        else:
            await self._redis.eval(_FORGET, 1, key, room, value)
