"""The suites in this folder really run with the Redis room state: a room's chat and
its session are in Redis, under the room's hash tag."""

from __future__ import annotations

from redis.asyncio import Redis

from server.rooms.room_state_redis import session_key
from tests.functional.conftest import Room


async def test_a_rooms_chat_is_kept_in_redis_under_its_session(room: Room, redis: Redis) -> None:
    cora = await room("cora")
    await cora.send({"type": "chat_send", "text": "hello"})
    said = await cora.recv_type("chat")
    session = cora.state["session"]
    meta = session_key("vip")
    assert await redis.hget(meta, "id") == session.encode()
    assert await redis.lrange(f"{meta}:{session}:chat:ids", 0, -1) == [said["id"].encode()]
