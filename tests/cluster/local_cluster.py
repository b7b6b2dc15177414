"""``make cluster``'s machinery for a test: a Redis Cluster, nodes and HAProxy
(server/devtools/cluster.py), seeded by the test as soon as ``start`` returns, stopped
afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from server.devtools.cluster import LocalCluster, start
from server.devtools.redis_embed import free_port
from server.redis_client import RedisClient, connect

Running = tuple[LocalCluster, str, RedisClient]  # the cluster, HAProxy's URL, its Redis
Seed = Callable[[LocalCluster, RedisClient], Awaitable[None]]


@asynccontextmanager
async def local_cluster(nodes: int, secret: str, admin: str, seed: Seed) -> AsyncIterator[Running]:
    port = free_port()
    local = await asyncio.to_thread(start, nodes, port, secret, admin)
    try:
        async with connect(local.redis.url, 5.0) as redis:
            await seed(local, redis)
            yield local, f"http://127.0.0.1:{port}", redis
    finally:
        await asyncio.to_thread(local.stop)
