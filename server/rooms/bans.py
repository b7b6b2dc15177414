"""Room bans in Redis: one set of banned member ids per room (``salon:{r:ID}:bans``).

The key shares the room's hash tag, so a room's definition, invites and bans live in one
slot. The gate reads it on every join (``RoomService.join``); moderators add to it when
they ban; operators lift bans through the REST API or the CLI.
"""

from __future__ import annotations

from redis.asyncio import Redis

from server.ids import MemberId, RoomId


def bans_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:bans"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class BanStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def is_banned(self, room_id: RoomId, member_id: MemberId) -> bool:
        return bool(await self._redis.sismember(bans_key(room_id), member_id))

    async def ban(self, room_id: RoomId, member_id: MemberId) -> None:
        await self._redis.sadd(bans_key(room_id), member_id)

    async def unban(self, room_id: RoomId, member_id: MemberId) -> bool:
        """Lift a ban; True when there was one."""
        return bool(await self._redis.srem(bans_key(room_id), member_id))

    async def list(self, room_id: RoomId) -> list[MemberId]:
        return sorted(MemberId(_text(m)) for m in await self._redis.smembers(bans_key(room_id)))
