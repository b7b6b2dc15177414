"""Room definitions in Redis: one hash and one invite set per room, plus an index set.

Keys carry a per-room hash tag (``salon:{r:ID}:…``) so a room's keys share a slot.
"""

from __future__ import annotations

import asyncio

from server.engagement.members import Tier
from server.ids import MemberId, RoomId
from server.redis_client import Atomic, RedisClient
from server.rooms.model import RoomKind, RoomSpec

ROOM_INDEX_KEY = "salon:rooms"
_KINDS = frozenset(k.value for k in RoomKind)


def room_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:room"


def invites_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:invites"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RoomStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def save(self, spec: RoomSpec) -> None:
        tx = Atomic(self._redis, room_key(spec.room_id))
        tx.hset(
            room_key(spec.room_id),
            mapping={
                "title": spec.title,
                "tiers": ",".join(t.value for t in spec.tiers),
                "capacity": str(spec.capacity),
                "speaker_cap": str(spec.speaker_cap),
                "speaker_cameras": "1" if spec.speaker_cameras else "0",
                "refusal_link": spec.refusal_link,
                "kind": spec.kind.value,
            },
        )
        tx.delete(invites_key(spec.room_id))
        if spec.invites:
            tx.sadd(invites_key(spec.room_id), *sorted(spec.invites))
        await tx.execute()
        await self._redis.sadd(ROOM_INDEX_KEY, spec.room_id)

    async def get(self, room_id: RoomId) -> RoomSpec | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(room_key(room_id))
            pipe.smembers(invites_key(room_id))
            raw, invites = await pipe.execute()
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        tiers = tuple(
            Tier(t) for t in data.get("tiers", "").split(",") if t in Tier._value2member_map_
        )
        return RoomSpec(
            room_id=room_id,
            title=data.get("title", room_id),
            tiers=tiers,
            capacity=int(data.get("capacity", "50")),
            speaker_cap=int(data.get("speaker_cap", "6")),
            speaker_cameras=data.get("speaker_cameras") == "1",
            refusal_link=data.get("refusal_link", ""),
            kind=RoomKind(data["kind"]) if data.get("kind") in _KINDS else RoomKind.LIVE,
            invites=frozenset(MemberId(_text(m)) for m in invites),
        )

    async def list(self) -> list[RoomSpec]:
        ids = sorted(_text(i) for i in await self._redis.smembers(ROOM_INDEX_KEY))
        specs = await asyncio.gather(*(self.get(RoomId(i)) for i in ids))
        return [s for s in specs if s is not None]
