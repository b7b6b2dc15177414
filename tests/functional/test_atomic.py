"""``server.redis_client.Atomic``: writes that land together, on one Redis and (through
``tests/cluster/test_on_cluster_test_atomic.py``) on a real Redis Cluster, where it must
not start a thread per command as redis-py's cluster transaction pipeline does."""

from __future__ import annotations

import threading
from typing import Any

from server.redis_client import Atomic, RedisClient

KEY = "salon:{t:atomic}:hash"
SET = "salon:{t:atomic}:set"


async def test_queued_writes_are_applied_in_order_and_answered_in_order(
    redis: RedisClient,
) -> None:
    started: list[int] = []

    def note(*_: Any) -> None:
        started.append(threading.get_ident())

    threading.setprofile(note)  # called first thing in every thread started from now on
    try:
        tx = Atomic(redis, KEY)
        tx.hset(KEY, mapping={"a": "1", "b": "2"})
        tx.expire(KEY, 60)
        tx.sadd(SET, "x", "y")
        tx.hdel(KEY, "a")
        tx.delete("salon:{t:atomic}:missing")
        replies = await tx.execute()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    assert replies == [2, 1, 2, 1, 0]
    assert await redis.hgetall(KEY) == {b"b": b"2"}
    assert sorted(await redis.smembers(SET)) == [b"x", b"y"]
    assert 0 < await redis.ttl(KEY) <= 60
    assert started == [], "a thread was started for the writes"
    assert await Atomic(redis, KEY).execute() == []  # nothing queued: nothing sent
