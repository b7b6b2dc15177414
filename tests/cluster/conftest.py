"""The multi-node suite's ground: one real Redis Cluster (6 ``redis-server`` processes,
3 masters + 3 replicas) for the whole run, flushed per test.

The fixtures ``redis_server`` and ``redis`` are overridden here, so that the functional
fixtures imported below (a real app, seeded members and rooms, sockets) and the
functional tests re-run in this folder talk to the cluster instead of one Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio.cluster import RedisCluster

from server.app import create_app
from server.devtools.redis_cluster import EmbeddedCluster, start_cluster
from server.devtools.redis_embed import EmbeddedRedis, start_redis
from server.redis_client import RedisClient
from server.redis_client import connect as redis_connect
from server.settings import Settings
from tests.functional.conftest import RELAXED, client, connect, make_settings, room, seeded
from tests.support.rerun import leave_out

__all__ = ["client", "connect", "room", "seeded"]  # fixtures, registered by import here
# Six redis-server processes beside the apps on a shared 2-core machine: a gate read may
# wait on a busy node longer than one Redis would make it, without anything being wrong.
CLUSTER_GATE_TIMEOUT = {"redis.timeout": 6.0}


@pytest.fixture
def settings(redis_server: EmbeddedCluster, redis: RedisClient) -> Settings:
    return make_settings(redis_server.url, **CLUSTER_GATE_TIMEOUT)


@pytest.fixture
async def serve(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: EmbeddedCluster,
    seeded: RedisClient,
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """The functional ``serve`` on the cluster, with ``CLUSTER_GATE_TIMEOUT``."""

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        merged = {**RELAXED, **CLUSTER_GATE_TIMEOUT, **overrides}
        return await aiohttp_client(create_app(make_settings(redis_server.url, **merged)))

    return start


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """One real Redis Cluster for the whole run, on free loopback ports."""
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture
def redis_server(redis_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """What the functional fixtures take for "the Redis": here, the cluster (its ``url``
    is a ``redis+cluster://`` URL)."""
    return redis_cluster


async def flush(client: RedisClient) -> None:
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)  # type: ignore[call-arg]


@pytest.fixture
async def redis(redis_cluster: EmbeddedCluster) -> AsyncIterator[RedisClient]:
    """A cluster client on flushed masters, built as the server builds its own."""
    await asyncio.to_thread(redis_cluster.wait_ok)
    client = redis_connect(redis_cluster.url, 5.0)
    assert isinstance(client, RedisCluster)
    await flush(client)
    try:
        yield client
    finally:
        await client.aclose()


# Tests re-run here that are about one Redis, or read it in a way a cluster does not
# answer the same: they run in their home module only (tests/support/rerun.py).
SINGLE_REDIS_ONLY = {
    "test_removals_still_arrive_after_redis_restarts": "restarts one redis-server (own_redis)",
    "test_the_cluster_metrics_answer_unavailable_while_redis_is_gone": "stops one redis-server",
    "test_a_drop_refused_for_want_of_redis_leaves_the_room_as_it_was": "stops one redis-server",
    "test_500_concurrent_claims_grant_exactly_the_stock": "the test builds a plain Redis client",
    "test_a_removal_holds_for_the_rest_of_the_session": "KEYS asks one node of the cluster",
    "test_the_cli_bans_and_removes_a_present_member_at_once": (
        "PUBLISH counts receivers on one cluster node only (docs/decisions.md)"
    ),
    "test_a_redis_that_stops_answering_refuses_unavailable_and_the_room_reopens_afresh": (
        "CLIENT PAUSE stops one node of a cluster"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    leave_out(config, items, "tests/cluster", set(SINGLE_REDIS_ONLY))


@pytest.fixture(scope="session")
def single_redis() -> Iterator[EmbeddedRedis]:
    """One plain redis-server, for tests run on both kinds (``backend``)."""
    with start_redis() as server:
        yield server


@pytest.fixture(params=["redis", "cluster"])
async def backend(
    request: pytest.FixtureRequest, redis_cluster: EmbeddedCluster, single_redis: EmbeddedRedis
) -> AsyncIterator[tuple[str, RedisClient]]:
    """``(url, client)`` on one Redis, then on the cluster: the same test on both."""
    url = single_redis.url if request.param == "redis" else redis_cluster.url
    if request.param == "cluster":
        await asyncio.to_thread(redis_cluster.wait_ok)
    client = redis_connect(url, 5.0)
    if isinstance(client, RedisCluster):
        await flush(client)
    else:
        await client.flushdb()
    try:
        yield url, client
    finally:
        await client.aclose()
