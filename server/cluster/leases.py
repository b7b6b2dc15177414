"""Room leases with fencing tokens: one node serves a room at a time.

``salon:{r:ID}:lease`` holds ``NODE TOKEN`` with a TTL; ``salon:{r:ID}:fence`` counts the
tokens ever handed out for the room, so every new holder gets a larger one. Both share
the room's hash tag (and its slot). Acquire, renew, release and ``check`` are single Lua
scripts: a node whose lease ran out (or was taken over) finds out at its next renewal,
and a write fenced with a stale token is refused by the check, not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from server.cluster.registry import text
from server.ids import RoomId

Client = Redis | RedisCluster

ACQUIRE: Final = """
local held = redis.call('GET', KEYS[1])
if held then
  local node, token = string.match(held, '^(%S+) (%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(token), node}
  end
  return {0, tonumber(token), node}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return {1, token, ARGV[1]}
"""

# ARGV: node, token, ttl_ms (0: release). 1 when the lease is still this holder's.
RENEW: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ' ' .. ARGV[2] then
  return 0
end
if tonumber(ARGV[3]) == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS: lease, target hash (in the room's slot); ARGV: node, token, field, value.
FENCED_HSET: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ' ' .. ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


def lease_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:lease"


def fence_key(room_id: RoomId) -> str:
    return f"salon:{{r:{room_id}}}:fence"


@dataclass(frozen=True, slots=True)
class Lease:
    room_id: RoomId
    node_id: str
    token: int


class LeaseHeld(Exception):
    """Another node holds the room's lease (code ``lease_held``)."""

    code = "lease_held"

    def __init__(self, room_id: RoomId, holder: str, token: int) -> None:
        super().__init__(room_id, holder, token)
        self.room_id, self.holder, self.token = room_id, holder, token


class LeaseStore:
    """Acquire, renew, release and check room leases; ``ttl`` in seconds."""

    def __init__(self, redis: Client, ttl: float) -> None:
        self._ttl_ms = int(ttl * 1000)
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._fenced_hset = redis.register_script(FENCED_HSET)
        self._redis = redis

    async def acquire(self, room_id: RoomId, node_id: str) -> Lease:
        """The room's lease for ``node_id`` (a fresh token, or the one it holds already);
        ``LeaseHeld`` when another node holds it."""
        ok, token, holder = await self._acquire(
            keys=[lease_key(room_id), fence_key(room_id)], args=[node_id, self._ttl_ms]
        )
        holder = text(holder)
        if not ok:
            raise LeaseHeld(room_id, holder, int(token))
        return Lease(room_id, node_id, int(token))

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False (at once) when it is no longer this holder's."""
        return await self._call(lease, self._ttl_ms)

    async def release(self, lease: Lease) -> bool:
        """Give the room up; False when it was not this holder's any more."""
        return await self._call(lease, 0)

    async def check(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the room's current one (a fenced write's guard)."""
        held = await self._redis.get(lease_key(lease.room_id))
        return held is not None and text(held) == f"{lease.node_id} {lease.token}"

    async def fenced_hset(self, lease: Lease, key: str, field: str, value: str) -> bool:
        """Set ``field`` of the room's hash ``key`` only while ``lease`` is current (one
        script: a node that lost the room cannot write after its successor). ``key`` must
        carry the room's hash tag."""
        ok = await self._fenced_hset(
            keys=[lease_key(lease.room_id), key], args=[lease.node_id, lease.token, field, value]
        )
        return bool(ok)

    async def holder(self, room_id: RoomId) -> Lease | None:
        held = await self._redis.get(lease_key(room_id))
        if held is None:
            return None
        node, _, token = text(held).partition(" ")
        return Lease(room_id, node, int(token))

    async def _call(self, lease: Lease, ttl_ms: int) -> bool:
        ok = await self._renew(
            keys=[lease_key(lease.room_id)], args=[lease.node_id, lease.token, ttl_ms]
        )
        return bool(ok)
