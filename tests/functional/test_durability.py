"""Nothing acknowledged is lost (issue 9): a real ``salon serve`` SIGKILLed while events
wait for a frozen Redis, and a chaos run (Redis frozen, killed and restarted; the server
killed and restarted) with members chatting over WebSockets and a shop posting events.
Every chat line the server broadcast back and every event it answered 202 is in the
stream afterwards, and scoring counted each exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from server.engagement import keys
from server.engagement.members import member_key
from server.engagement.rules import load_rules
from server.engagement.scorer import Scorer
from server.engagement.state_codec import state_from_hash
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.crash_rig import (
    Acknowledged,
    Chatter,
    PersistentRedis,
    ServeProcess,
    StreamContent,
    seed,
    shop,
    stream_content,
)
from tests.support.streams import drain
from tests.support.waiting import eventually

MEMBERS = ["cora", "cody", "cleo", "cyd"]


@dataclass
class Scene:
    """A persistent Redis, a ``salon serve`` on it (started), a client of each, and what
    the server has acknowledged so far."""

    redis: PersistentRedis
    server: ServeProcess
    client: Redis
    http: aiohttp.ClientSession
    acks: Acknowledged = field(default_factory=Acknowledged)

    async def traffic(self, name: str) -> Traffic:
        traffic = Traffic(self.http, self.acks, name)
        await traffic.start(self.server)
        return traffic

    async def kill_server_while_redis_is_frozen(self, traffic: Traffic, seconds: float) -> None:
        """Freeze Redis, let ``traffic`` go on for ``seconds`` (answered from memory and
        the journal), stop it, then SIGKILL the server and thaw Redis."""
        self.redis.signal(signal.SIGSTOP)
        await asyncio.sleep(seconds)
        await traffic.finish()
        # At once: what was acknowledged is in the journal file already (issue 11 b).
        await self.server.sigkill()
        self.redis.signal(signal.SIGCONT)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    redis = PersistentRedis(tmp_path)
    await redis.start()
    server = ServeProcess(redis.url, tmp_path)
    client = Redis.from_url(redis.url)
    try:
        await seed(redis.url, [*MEMBERS, "buyer"])
        async with aiohttp.ClientSession() as http:
            await server.start(http)
            yield Scene(redis, server, client, http)
    finally:
        await server.stop()
        await redis.kill()
        await client.aclose()


class Traffic:
    """Members chatting and a shop posting, started and stopped together."""

    def __init__(self, http: aiohttp.ClientSession, acks: Acknowledged, name: str) -> None:
        self.http, self.acks, self.name = http, acks, name
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[object]] = []

    async def start(self, server: ServeProcess) -> None:
        """Start, and return once every member is in the room and chatting."""
        chatters = [Chatter(self.http, member, self.acks) for member in MEMBERS]
        self.tasks = [asyncio.create_task(c.chat(server, self.stop)) for c in chatters]
        self.tasks.append(
            asyncio.create_task(shop(self.http, server, self.name, self.acks, self.stop))
        )
        chatting = asyncio.gather(*(c.chatting.wait() for c in chatters))
        await asyncio.wait([chatting, *self.tasks], timeout=30, return_when="FIRST_COMPLETED")
        assert chatting.done(), [t.exception() for t in self.tasks if t.done()]

    async def finish(self) -> None:
        """Stop, once every line sent and every request made has its answer."""
        self.stop.set()
        await asyncio.gather(*self.tasks)


async def arrived(client: Redis, acks: Acknowledged, timeout: float = 40) -> StreamContent:
    """The stream once everything acknowledged is in it (or what is missing)."""
    latest: list[StreamContent] = []

    async def missing() -> str:
        content = await stream_content(client)
        latest[:] = [content]
        chats = set(acks.chats) - set(content.chats)
        events = acks.events - set(content.events)
        if not chats and not events:
            return ""
        return (
            f"acknowledged but not in the stream: {len(chats)} of {len(acks.chats)} chat "
            f"lines, {len(events)} of {len(acks.events)} REST events"
        )

    await eventually(
        missing,
        until=lambda gap: not gap,
        timeout=timeout,
        interval=0.1,
        what="everything acknowledged in the stream",
    )
    return latest[0]


def assert_same(acks: Acknowledged, content: StreamContent) -> None:
    assert set(content.chats) == set(acks.chats)
    assert set(content.events) == acks.events


async def assert_scored_once(client: Redis, acks: Acknowledged) -> None:
    """Drain the scorer group (taking over what the killed server had read) and check
    every member's counts and every session's against what was acknowledged."""
    settings = EngagementSettings(spill_dir="")
    await drain(client, Scorer(client, settings, "checker", rules=load_rules()))
    by_member = Counter(acks.chats.values())
    for member in MEMBERS:
        mid = MemberId(member)
        state = state_from_hash(mid, await client.hgetall(member_key(mid)))
        assert state.interactions == by_member[member], member
    bid = MemberId("buyer")
    buyer = state_from_hash(bid, await client.hgetall(member_key(bid)))
    assert buyer.orders == len(acks.events)
    by_session = Counter(session for session, _ in acks.chats)
    for session, count in by_session.items():
        stats = await client.hgetall(keys.session_key(f"vip:{session}", "stats"))
        assert int(stats[b"interactions"]) == count, session


async def test_a_server_killed_while_redis_is_frozen_loses_no_acknowledged_event(
    scene: Scene,
) -> None:
    """Regression (issue 9, defect 2): events waited in memory while Redis was slow, so
    a SIGKILL lost them (152 of 439 chat events in one run), purchases answered 202
    among them."""
    traffic = await scene.traffic("frozen")
    await asyncio.sleep(0.3)
    # Chat lines broadcast and events answered 202 while Redis cannot take anything.
    await scene.kill_server_while_redis_is_frozen(traffic, 1.0)
    acks = scene.acks
    assert len(acks.chats) > 20 and len(acks.events) > 5
    content = await stream_content(scene.client)
    assert not set(acks.chats) <= set(content.chats), "nothing was waiting in memory"
    await scene.server.start(scene.http)  # replays the journal of the killed process
    assert_same(acks, await arrived(scene.client, acks))
    await assert_scored_once(scene.client, acks)


async def test_chaos_redis_frozen_killed_restarted_and_the_server_killed_restarted(
    scene: Scene,
) -> None:
    """A live room through every failure at once: acknowledged == in the stream, and
    each counted once by scoring."""
    redis, server = scene.redis, scene.server
    first = await scene.traffic("first")
    await asyncio.sleep(0.5)
    redis.signal(signal.SIGSTOP)  # Redis freezes ...
    await asyncio.sleep(0.7)
    await redis.kill()  # ... and dies
    await asyncio.sleep(0.3)
    await redis.start()  # back, with what it had on disk
    await asyncio.sleep(0.7)
    # Slow again when the server dies.
    await scene.kill_server_while_redis_is_frozen(first, 0.5)
    await server.start(scene.http)
    second = await scene.traffic("second")
    await asyncio.sleep(0.7)
    await second.finish()
    assert_same(scene.acks, await arrived(scene.client, scene.acks))
    assert len({session for session, _ in scene.acks.chats}) == 2  # one per server life
    await server.stop()  # a clean stop leaves no journal behind
    assert not list(server.spill.rglob("*.journal"))
    await assert_scored_once(scene.client, scene.acks)
