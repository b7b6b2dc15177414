"""Salon's own code on a real Redis Cluster: the engagement loop through a real app (events
recorded → stream → scorer → tier → gate), a Lua rule under concurrency, and the gate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.crc import key_slot
from redis.exceptions import RedisError

from server import operations as ops
from server.devtools.redis_cluster import EmbeddedCluster
from server.engagement.events import STREAM_KEY, EventKind, new_event, purchase_data
from server.engagement.members import MemberStore, Tier, member_key
from server.ids import MemberId
from server.redis_client import Atomic, RedisClient
from server.rooms.coupon_store import CouponStore
from server.rooms.reward_errors import RewardError
from tests.functional.conftest import Socket, stream_events, token, xadd
from tests.functional.test_rewards_atomic import NOW, coupon

Connect = Any


async def test_the_keys_of_one_member_and_of_one_room_share_a_slot_across_masters(
    redis: RedisClient, redis_cluster: EmbeddedCluster
) -> None:
    """The cluster really spreads Salon's keys: members land on different masters, and
    each member's keys (and each room's) sit in one slot."""
    masters = {
        redis_cluster.master_of(key_slot(member_key(MemberId(f"m{i}")).encode())) for i in range(30)
    }
    assert len(masters) == 3
    for part in ("applied", "tiers", "predicted"):
        assert key_slot(f"salon:{{m:cora}}:{part}".encode()) == key_slot(b"salon:{m:cora}:member")


async def test_a_tier_refusal_then_a_purchase_scored_through_the_stream_opens_the_gate(
    client: TestClient[Any, Any], connect: Connect, redis: RedisClient
) -> None:
    """neo (potential, scored) is refused room vip (core, active); a member's join and chat
    are recorded, a purchase goes through the stream to the app's scorer, neo's tier
    becomes active, and the same gate then admits him: the whole loop on the cluster."""
    members = MemberStore(redis)
    await ops.set_member(members, "neo", "potential", "Neo", auto=True)
    ws: Socket = await connect()
    refused = await ws.join(token("neo"))
    assert (refused["type"], refused["code"]) == ("error", "tier_too_low")

    cora: Socket = await connect()
    assert (await cora.join(token("cora")))["type"] == "joined"
    await cora.send({"type": "chat_send", "text": "hello from the cluster"})
    events = await stream_events(redis, 2)
    assert {(e.kind, e.member_id) for e in events} >= {("join", "cora"), ("chat", "cora")}

    await xadd(
        redis,
        new_event(
            EventKind.PURCHASE, "vip", MemberId("neo"), **purchase_data("o-1", "59.00", "EUR")
        ),
    )
    deadline = time.monotonic() + 10
    while (member := await members.get(MemberId("neo"))) is None or member.tier is Tier.POTENTIAL:
        assert time.monotonic() < deadline, "the scorer never moved neo"
        await asyncio.sleep(0.05)
    assert member.tier is Tier.ACTIVE
    again: Socket = await connect()
    assert (await again.join(token("neo")))["type"] == "joined"
    assert await redis.xlen(STREAM_KEY) >= 3


async def test_200_concurrent_claims_on_the_cluster_grant_exactly_the_stock(
    redis: RedisClient,
) -> None:
    store = CouponStore(redis)
    spec = coupon(count=50)
    await store.put(spec)
    results = await asyncio.gather(
        *(store.claim(spec, f"m{i}", "d1", NOW) for i in range(200)), return_exceptions=True
    )
    granted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RewardError)]
    failed = [repr(r) for r in results if isinstance(r, BaseException) and r not in refused]
    assert not failed, failed[:3]
    assert len(granted) == 50 and len(refused) == 150
    assert {r.code for r in refused} == {"sold_out"}
    figures = await store.figures("spring")
    assert figures is not None and figures["claimed"] == 50


async def test_writes_that_must_land_together_refuse_a_key_of_another_slot(
    redis: RedisClient,
) -> None:
    """``Atomic`` on a cluster: every key must share the routing key's slot, as in a
    cluster transaction; Redis stops the script at the first key of another slot."""
    tx = Atomic(redis, "salon:{r:one}:a")
    tx.set("salon:{r:one}:a", "1")
    tx.set("salon:{r:two}:b", "2")
    with pytest.raises(RedisError):
        await tx.execute()
    assert await redis.get("salon:{r:two}:b") is None
