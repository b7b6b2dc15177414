"""Room bans and removals in Redis.

Bans: one set of banned member ids per room (``salon:{r:ID}:bans``), until lifted.
Removals: one set per room session (``salon:{r:ID}:removed:SESSION``): a removed member
stays out for the rest of that session, fresh link included, and may come back to the
next one; the set expires a day after the last removal.

The keys share the room's hash tag, so a room's definition, invites, bans and removals
live in one slot. The gate reads them on every join (``RoomService.join``); moderators
add to them when they remove or ban; operators lift bans through the REST API or the CLI.
"""

from __future__ import annotations

from server.ids import MemberId, RoomId
from server.redis_client import Atomic, RedisClient


def bans_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:bans"


REMOVAL_TTL = 24 * 3600


def removals_key(room_id: RoomId, session: str) -> str:
    return f"salon:{{r:{room_id}}}:removed:{session}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class BanStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def is_banned(self, room_id: RoomId, member_id: MemberId) -> bool:
        return bool(await self._redis.sismember(bans_key(room_id), member_id))

    async def ban(self, room_id: RoomId, member_id: MemberId) -> None:
        await self._redis.sadd(bans_key(room_id), member_id)

    async def unban(self, room_id: RoomId, member_id: MemberId) -> bool:
        """Lift a ban; True when there was one."""
        return bool(await self._redis.srem(bans_key(room_id), member_id))

    async def remove_for_session(self, room_id: RoomId, session: str, member_id: MemberId) -> None:
        key = removals_key(room_id, session)
        tx = Atomic(self._redis, key)
        tx.sadd(key, member_id)
        tx.expire(key, REMOVAL_TTL)
        await tx.execute()

    async def is_removed(self, room_id: RoomId, session: str, member_id: MemberId) -> bool:
        return bool(await self._redis.sismember(removals_key(room_id, session), member_id))

    async def list(self, room_id: RoomId) -> list[MemberId]:
        return sorted(MemberId(_text(m)) for m in await self._redis.smembers(bans_key(room_id)))
