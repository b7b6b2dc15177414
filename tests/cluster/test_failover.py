"""A Redis Cluster master killed (SIGKILL) while events are recorded and scored, and while
a member tries to join: its replica takes over, no acknowledged event is lost, none is
scored twice, and the gate stays shut (``unavailable``) until the cluster is whole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.crc import key_slot

from server import operations as ops
from server.devtools.redis_cluster import EmbeddedCluster
from server.engagement.events import STREAM_FIELD, STREAM_KEY, EventKind, decode, new_event
from server.engagement.members import MemberStore, applied_key, member_key
from server.engagement.recorder import EventRecorder
from server.engagement.scorer import Scorer
from server.ids import MemberId
from server.redis_client import RedisClient
from server.redis_client import connect as redis_connect
from server.settings import EngagementSettings, Settings
from tests.functional.conftest import Socket, make_settings, token

Connect = Any
EVENTS = 300


def member_on(cluster: EmbeddedCluster, master: int) -> str:
    """A member id whose keys live on the master at port ``master``."""
    for i in range(10_000):
        name = f"f{i}"
        if cluster.master_of(key_slot(member_key(MemberId(name)).encode())) == master:
            return name
    raise AssertionError("no member id maps to that master")


@pytest.fixture
def settings(redis_cluster: EmbeddedCluster, redis: RedisClient) -> Settings:
    """The app's own scorer off: the test's scorer must see every event first."""
    return make_settings(redis_cluster.url, **{"engagement.scorer_enabled": False})


@pytest.fixture
async def stream_master(redis_cluster: EmbeddedCluster) -> AsyncIterator[int]:
    """The port of the master holding the event stream; revived after the test (it then
    rejoins as a replica) so that later tests get a whole cluster."""
    port = redis_cluster.master_of(key_slot(STREAM_KEY.encode()))
    yield port
    if port in redis_cluster.killed:
        await asyncio.to_thread(redis_cluster.revive, port)
    await asyncio.to_thread(redis_cluster.wait_ok)


async def test_a_master_killed_mid_session_loses_no_event_scores_none_twice_and_keeps_the_gate_shut(
    redis: RedisClient,
    redis_cluster: EmbeddedCluster,
    stream_master: int,
    client: TestClient[Any, Any],
    connect: Connect,
) -> None:
    fenced = member_on(redis_cluster, stream_master)
    members = MemberStore(redis)
    await ops.set_member(members, fenced, "core", "Fenced")
    settings = EngagementSettings(spill_dir="", scorer_group="failover")
    recorder = EventRecorder(connect_to(redis_cluster), settings, wait_replicas=1)
    scorer_redis = redis_connect(redis_cluster.url, 2.0, read_timeout=0)
    scorer = Scorer(scorer_redis, settings, "failover-1")
    await recorder.start()
    await scorer.start()
    sent: list[str] = []
    try:
        for i in range(EVENTS):
            event = new_event(EventKind.CHAT, "vip", MemberId(f"m{i % 20}"), action="send")
            recorder.record(event)
            sent.append(event.id)
            if i == EVENTS // 3:
                await recorder.flush()
                await asyncio.to_thread(redis_cluster.kill, stream_master)
                # During the failover the gate refuses: the member's keys are unreachable.
                ws: Socket = await connect()
                refused = await ws.join(token(fenced))
                assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
            await asyncio.sleep(0.01)
        await asyncio.to_thread(redis_cluster.wait_ok)
        # Every event handed to the recorder reaches the stream once the replica serves
        # it, and is applied to its member (a member's applied set holds its event ids).
        deadline = time.monotonic() + 60
        while recorder.depth or not set(sent) <= await applied_ids(redis):
            assert time.monotonic() < deadline, (recorder.depth, scorer.applied)
            await asyncio.sleep(0.1)
    finally:
        await scorer.stop()
        await recorder.stop()
        await scorer_redis.aclose()
    stored = {decode(f[STREAM_FIELD]).id for _, f in await redis.xrange(STREAM_KEY)}
    assert set(sent) <= stored, f"{len(set(sent) - stored)} acknowledged events lost"
    # Applied at most once each: an event whose first application's reply was lost with
    # the master is found applied when tried again (a duplicate), never applied twice.
    assert scorer.applied <= EVENTS, "an event was scored twice"
    assert scorer.applied + scorer.duplicates >= EVENTS
    # After the failover the gate reads the member again and admits them.
    back: Socket = await connect()
    rejoined = await back.join(token(fenced, room="other"), room="other")
    assert rejoined["type"] == "joined", rejoined


async def applied_ids(redis: RedisClient) -> set[str]:
    ids: set[str] = set()
    for i in range(20):
        ids.update(m.decode() for m in await redis.zrange(applied_key(MemberId(f"m{i}")), 0, -1))
    return ids


def connect_to(cluster: EmbeddedCluster) -> RedisClient:
    return redis_connect(cluster.url, 2.0)
