"""The leaves of the pages that were in a room on a node that died (issue 11).

Nobody saw those pages leave: the node that held their sockets is gone. The node taking
the room's session over (``RoomService._open_now``) asks ``LostPages.find``: the members
holding a place in the session whose whereabouts entry (server/rooms/whereabouts.py)
names another node, or an earlier start of this one. Each gets a ``leave`` with
``reason`` ``node_lost``, timed at the earlier of two bounds of the dead owner's end: the
take-over time less the lease TTL (its lease's last renewal, when the room is taken as
the lease runs out, as when pages wait for it) and one heartbeat interval after its last
heartbeat (the registry's index: when the room is taken long after); never before the
join. Hosts hold no place: their pages' leaves are not recorded (a host's time in the
room earns nothing and counts in no session figure).

Every leave's id is ``leave_event_id(session, participant)``, the same whoever records
it: a second take-over, the dead node's replayed journal, or a previous owner that was
only paused and records its pages' leaves when it wakes. The consumers (ledger, session
counts) apply an id once. A page that comes back records its join as a new participant.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Final

from server.cluster.registry import INDEX
from server.engagement.events import now_ms
from server.ids import MemberId, RoomId
from server.redis_client import RedisClient
from server.rooms.model import Role
from server.rooms.room_state import SessionState
from server.rooms.whereabouts import Whereabout, Whereabouts

# Names the leave ids: uuid5 of the session and the participant in it.
_NAMESPACE: Final = uuid.UUID("6f1f7a52-3c1e-4f8e-9a57-5a1e7d0c1e11")
REASON: Final = "node_lost"


def leave_event_id(session: str, participant: str) -> str:
    """The id of ``participant``'s leave from ``session`` (any node, any time)."""
    return uuid.uuid5(_NAMESPACE, f"leave/{session}/{participant}").hex


@dataclass(frozen=True, slots=True)
class LostLeave:
    """One page gone with its node: the leave to record."""

    member_id: MemberId
    entry: Whereabout
    at_ms: int
    role: str

    @property
    def watch_seconds(self) -> float:
        return round(max(0, self.at_ms - self.entry.joined_ms) / 1000, 3)


def lost_leaves(
    entries: list[tuple[MemberId, Whereabout]],
    roles: dict[MemberId, Role],
    last_seen: dict[str, int | None],
    now: int,
    lease_ttl_ms: int,
    heartbeat_ms: int,
) -> list[LostLeave]:
    """The leaves of ``entries`` (pure): see the module docstring for the time and role."""
    leaves: list[LostLeave] = []
    for member, entry in entries:
        at = now - lease_ttl_ms
        seen = last_seen.get(entry.node)
        if seen is not None:
            at = min(at, seen + heartbeat_ms)
        stage = roles.get(member)
        role = stage.value if stage is not None else (entry.role or Role.MEMBER.value)
        leaves.append(LostLeave(member, entry, max(at, entry.joined_ms), role))
    return leaves


class LostPages:
    """Finds the pages a dead owner held in a session (needs the whereabouts index)."""

    def __init__(
        self, redis: RedisClient, whereabouts: Whereabouts, lease_ttl: float, heartbeat: float
    ) -> None:
        self._redis = redis
        self._whereabouts = whereabouts
        self._lease_ttl_ms = int(lease_ttl * 1000)
        self._heartbeat_ms = int(heartbeat * 1000)

    async def find(self, room_id: RoomId, session: SessionState) -> list[LostLeave]:
        members = await session.places()
        if not members:
            return []
        entries = await self._whereabouts.lost(room_id, session.session_id, members)
        if not entries:
            return []
        roles = await session.stage_roles()
        nodes = sorted({entry.node for _, entry in entries})
        scores = await asyncio.gather(*(self._redis.zscore(INDEX, node) for node in nodes))
        seen = {n: None if s is None else int(s) for n, s in zip(nodes, scores, strict=True)}
        return lost_leaves(entries, roles, seen, now_ms(), self._lease_ttl_ms, self._heartbeat_ms)

    def recorded(self, leave: LostLeave) -> None:
        """``leave`` is recorded: its whereabouts entry goes."""
        self._whereabouts.forget(leave.member_id, leave.entry)
