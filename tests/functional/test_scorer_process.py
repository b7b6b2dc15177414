"""``salon scorer`` as a process of its own (issues 14 and 17): a serving node with
``engagement.scorer_enabled = false`` records events, the standalone scorer applies them,
and its tier changes reach the node's hosts (effects channel) and the webhook queues;
``--processes 2`` applies every event once between its processes; SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server import operations as ops
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import STREAM_KEY, now_ms
from server.engagement.members import MemberStore, Tier, applied_key
from server.engagement.rules import load_rules
from server.engagement.scorer import Scorer
from server.ids import MemberId
from server.rooms.store import RoomStore
from server.settings import EngagementSettings
from server.webhooks.store import WebhookStore, queue_key
from tests.functional.conftest import ADMIN_KEY, Socket, token, xadd
from tests.functional.crash_rig import ServeProcess
from tests.functional.test_scorers_share import EVENTS, MEMBERS, community, score_with
from tests.support.cli import SALON
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
GROUP = EngagementSettings(spill_dir="").scorer_group
FAST = {"SALON_NODE_HEARTBEAT": "0.2", "SALON_NODE_TTL": "3", "SALON_REDIS_TIMEOUT": "3"}


class ScorerProcess:
    """``salon scorer ARGS`` on the suite's Redis, its output in a file."""

    def __init__(self, url: str, workdir: Path, *args: str) -> None:
        self.url, self.log, self.args = url, workdir / "scorer.log", args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
        env["SALON_REDIS_URL"] = self.url
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(SALON), "scorer", *self.args, env=env, stdout=out, stderr=out
            )

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def scorers() -> AsyncIterator[list[ScorerProcess]]:
    started: list[ScorerProcess] = []
    yield started
    for scorer in started:
        await scorer.kill()


async def test_a_standalone_scorer_applies_a_nodes_events_and_its_tier_change_reaches_the_host(
    redis_server: EmbeddedRedis, seeded: Redis, tmp_path: Path, scorers: list[ScorerProcess]
) -> None:
    endpoint = await WebhookStore(seeded).add("http://127.0.0.1:9/hook", ["tier.changed"])
    await ops.create_room(RoomStore(seeded), "open", "Open room", "potential,active,core")
    await ops.set_member(MemberStore(seeded), "zed", "potential", "Zed", True)
    env = {**FAST, "SALON_NODE_ID": "node-a", "SALON_ENGAGEMENT_SCORER_ENABLED": "false"}
    node = ServeProcess(redis_server.url, tmp_path, env)
    async with aiohttp.ClientSession() as http:
        try:
            await node.start(http)
            sockets = [await http.ws_connect(f"{node.url}/ws") for _ in range(2)]
            host, zed = Socket(sockets[0]), Socket(sockets[1])
            assert (await host.join(token("host", "open", "host"), "open"))["type"] == "joined"
            assert (await zed.join(token("zed", "open"), "open"))["type"] == "joined"
            event = {"kind": "purchase", "id": "shop-z-1", "member_id": "zed",
                     "order_id": "SZ-1", "amount": "59.90", "currency": "EUR"}  # fmt: skip
            async with http.post(f"{node.url}/api/events", headers=AUTH, json=event) as answer:
                assert answer.status == 202, await answer.text()

            # The purchase is in the stream (the marker): the node scored nothing itself.
            async def purchase_recorded() -> bool:
                entries: Any = await seeded.xrange(STREAM_KEY)
                return any(b"SZ-1" in b"".join(fields.values()) for _id, fields in entries)

            await eventually(purchase_recorded, what="the purchase in the event stream")
            member = await MemberStore(seeded).get(MemberId("zed"))
            assert member is not None and member.tier is Tier.POTENTIAL
            assert not await seeded.exists(applied_key(MemberId("zed")))

            scorer = ScorerProcess(redis_server.url, tmp_path, "--consumer", "solo")
            scorers.append(scorer)
            await scorer.start()
            pushed = await host.recv_type("tier", timeout=20)
            assert {k: pushed[k] for k in ("member_id", "from", "to")} == {
                "member_id": "zed",
                "from": "potential",
                "to": "active",
            }
            member = await MemberStore(seeded).get(MemberId("zed"))
            assert member is not None and member.tier is Tier.ACTIVE

            async def webhooks() -> list[dict[str, Any]]:
                entries: Any = await seeded.xrange(queue_key(endpoint.id))
                return [json.loads(fields[b"body"]) for _id, fields in entries]

            queued = await eventually(webhooks, what="the tier.changed webhook queued")
            assert [(w["kind"], w["data"]["member_id"], w["data"]["to"]) for w in queued] == [
                ("tier.changed", "zed", "active")
            ]
            assert await scorer.terminate() == 0, scorer.output()
            assert "Traceback" not in scorer.output()
            assert "stopped after" in scorer.output()
            for ws in sockets:
                await ws.close()
        finally:
            await node.stop()


async def test_two_scorer_processes_apply_every_event_once_as_one_scorer_does(
    redis_server: EmbeddedRedis, redis: Redis, tmp_path: Path, scorers: list[ScorerProcess]
) -> None:
    now = now_ms()
    events = community(now)
    await redis.flushdb()
    store = MemberStore(redis)
    for i in range(MEMBERS):
        await store.set(MemberId(f"m{i}"), Tier.POTENTIAL, pinned=False)
    duo = ScorerProcess(redis_server.url, tmp_path, "--processes", "2", "--consumer", "duo",
                        "--batch", "150")  # fmt: skip
    scorers.append(duo)
    await duo.start()

    # Both processes are reading (members of the group) before the events arrive.
    async def consumers() -> set[str]:
        if not await redis.exists(STREAM_KEY):
            return set()
        return {c["name"].decode() for c in await redis.xinfo_consumers(STREAM_KEY, GROUP)}

    await eventually(consumers, until=lambda names: names == {"duo-0", "duo-1"},
                     timeout=30, what="both scorer processes in the group")  # fmt: skip
    await xadd(redis, *events)

    async def done() -> tuple[int, int]:
        (group,) = await redis.xinfo_groups(STREAM_KEY)
        return int(group["entries-read"] or 0), int(group["pending"])

    await eventually(done, until=lambda got: got == (EVENTS, 0), timeout=60,
                     what="every event read and acknowledged")  # fmt: skip
    assert await duo.terminate() == 0, duo.output()
    output = duo.output()
    assert "Traceback" not in output
    counts = [int(line.split("stopped after ")[1].split()[0])
              for line in output.splitlines() if "stopped after" in line]  # fmt: skip
    # Both took part, and every event was applied once between them.
    assert len(counts) == 2 and min(counts) > 0 and sum(counts) == EVENTS, output
    per_member = {MemberId(f"m{i}"): 0 for i in range(MEMBERS)}
    for event in events:
        per_member[event.member_id] += 1
    applied = {m: await redis.zcard(applied_key(m)) for m in per_member}
    assert applied == per_member
    reader = Scorer(redis, EngagementSettings(spill_dir=""), "reader", rules=load_rules())
    shared = {m: (await reader.ledger.read(m))[0] for m in per_member}
    tiers = {m: (await store.get(m)) for m in per_member}
    assert {m.tier for m in tiers.values() if m is not None} - {Tier.POTENTIAL}  # tiers moved
    # One in-process scorer's result on the same stream: the same member states.
    (alone,), single = await score_with(redis_server.url, redis, events, 1, now)
    assert alone.applied == EVENTS
    same = ("orders", "revenue_minor", "interactions", "shares", "last_active")
    for member_id, state in shared.items():
        other = single[member_id][0]
        assert {f: getattr(state, f) for f in same} == {f: getattr(other, f) for f in same}
