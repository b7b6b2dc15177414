"""``python -m loadtest run rooms``: many rooms at once (``--rooms 20 --members 30``), some
with media (``--media-rooms``: the host publishes, ``--subscribers`` members per such room
are media bots that count RTP without decoding).

Every room, its members and their tokens are made through the REST API
(``loadtest.admin.prepare``, once per room). In each room the host joins first (and
publishes in a media room), then the members join at ``--rate`` joins per second across
all rooms; everyone stays ``--duration`` seconds. Against ``--spawn-cluster N`` (nodes
behind HAProxy) with ``--kill-node``, one node is SIGKILLed half-way and every member
whose socket dropped joins again through the load balancer: the report gives the time
from the kill to each member back (p95) and who was not back within ``BACK_TIMEOUT``.

The report: members admitted (and refusals by code), join latency p50/p95/p99 (socket
open → ``joined``), media packets received, expected and lost, and the server's own
figures read from ``/metrics?scope=cluster`` (every node; plain ``/metrics`` for a server
without it) over the steady part of the run: participants, CPU used, forwarded RTP
packets, so members and forwarded packets per second per core; with the server's Redis
known (``--redis-url`` or ``--spawn-server``), the join events it recorded per room.
All bots run in this one process (asyncio): for runs much larger than the default, keep
an eye on the report's ``bot_cpu``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from loadtest import capacity
from loadtest.admin import AdminError, Cast, bounded, prepare
from loadtest.client import BotSpec, Client, Env
from loadtest.cluster_spawn import SpawnedCluster, spawn_cluster
from loadtest.coupon_rush import percentile, write_plain
from loadtest.media import MediaBot, Publisher
from loadtest.scenario import Scenario
from loadtest.scrape import parse
from loadtest.spawn import SpawnedServer, spawn_pinned
from loadtest.stats import Recorder
from loadtest.verify import recorded

BACK_TIMEOUT = 20.0
REJOIN_EVERY = 0.2
SETTLE = 2.0  # seconds after the last join before the steady window starts
JOIN_CONCURRENCY = 64
LAG_TICK = 0.01  # seconds between two looks at the bots' loop lag while members join
BUSY_TICK = 0.5  # seconds between two looks at the machine's busy cores meanwhile
IDLE_S = 5.0  # --compare: seconds each node's idle CPU is measured before the rooms open

# Reads the cluster's nodes and the machine (``--compare``: ``loadtest.capacity``).
Probe = Callable[[aiohttp.ClientSession], Awaitable[capacity.Reading]]


def _say(text: str) -> None:
    print(f"loadtest: {text}", file=sys.stderr, flush=True)


@dataclass
class Bot:
    client: Client
    media: MediaBot | None = None
    publisher: Publisher | None = None


@dataclass
class Tally:
    joins_ms: list[float] = field(default_factory=list)
    bot_lag_ms: list[float] = field(default_factory=list)
    machine_busy: list[float] = field(default_factory=list)  # cores, each BUSY_TICK
    refused: Counter[str] = field(default_factory=Counter)
    back_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    not_back: int = 0


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def figures(text: str) -> dict[str, float]:
    """Sums of ``/metrics`` samples by name over nodes (and labels other than role)."""
    sums: dict[str, float] = {}
    for key, value in parse(text).items():
        name = key.split("{", 1)[0]
        sums[name] = sums.get(name, 0.0) + value
    return sums


async def read_metrics(session: aiohttp.ClientSession, url: str) -> tuple[dict[str, float], bool]:
    """The server's figures and whether they are the whole cluster's."""
    async with session.get(f"{url}/metrics?scope=cluster") as response:
        if response.status == 200:
            return figures(await response.text()), True
    async with session.get(f"{url}/metrics") as response:
        return figures(await response.text()), False


def cpu_seconds(values: dict[str, float], whole: bool) -> float:
    return values.get("salon_node_cpu_seconds_total" if whole else "process_cpu_seconds_total", 0.0)


class RoomsRun:
    def __init__(self, url: str, scenario: Scenario, casts: list[Cast], media_rooms: int,
                 subscribers: int) -> None:  # fmt: skip
        self.url, self.scenario, self.casts = url, scenario, casts
        self.media_rooms, self.subscribers = media_rooms, subscribers
        self.rec = Recorder()
        self.tally = Tally()
        self.bots: list[Bot] = []
        self.envs: dict[str, Env] = {}

    async def _join(self, env: Env, spec: BotSpec) -> Client | None:
        client = Client(env, spec)
        if not await client.start():
            self.tally.refused[client.state] += 1
            return None
        self.tally.joins_ms.append((time.monotonic() - client.opened_at) * 1000)
        return client

    async def start_room(self, session: aiohttp.ClientSession, index: int, cast: Cast) -> None:
        ws_url = self.url.replace("http", "ws", 1).rstrip("/") + "/ws"
        env = Env(session, ws_url, cast.room, self.rec, self.scenario, random.Random(index))
        self.envs[cast.room] = env
        host = await self._join(env, BotSpec(cast.host, cast.host_token, "host", False, 0.0))
        if host is None:
            return
        bot = Bot(host)
        self.bots.append(bot)
        if index < self.media_rooms:
            bot.publisher = Publisher(host)
            await bot.publisher.start()

    async def join_members(self, rate: float) -> None:
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)
        begin = time.monotonic()
        plan = [
            (cast, i, member, token)
            for i in range(max((len(c.members) for c in self.casts), default=0))
            for cast in self.casts
            if i < len(cast.members)
            for member, token in [(cast.members[i], cast.tokens[i])]
        ]

        async def one(n: int, room_index: int, cast: Cast, i: int, member: str, token: str) -> None:
            await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
            media = room_index < self.media_rooms and i < self.subscribers
            spec = BotSpec(member, token, "media" if media else "signaling", False, 0.0)
            async with gate:
                client = await self._join(self.envs[cast.room], spec)
            if client is None:
                return
            bot = Bot(client, MediaBot(client) if media else None)
            self.bots.append(bot)
            if bot.media is not None:
                client.spawn(bot.media.start(), "subscribe")

        index = {cast.room: n for n, cast in enumerate(self.casts)}
        lag = asyncio.create_task(self._watch_lag())
        try:
            await asyncio.gather(
                *(one(n, index[c.room], c, i, m, t) for n, (c, i, m, t) in enumerate(plan))
            )
        finally:
            lag.cancel()

    async def _watch_lag(self) -> None:
        """The bots' own loop lag while members join: every join time is taken on this loop,
        so a late loop makes joins look slow whatever the server did. And how busy the whole
        machine was, each ``BUSY_TICK``: the bots share its cores with the nodes."""
        busy_at, busy = time.monotonic(), capacity.machine_busy()
        while True:
            asked = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            now = time.monotonic()
            self.tally.bot_lag_ms.append((now - asked - LAG_TICK) * 1000)
            if now - busy_at >= BUSY_TICK:
                was, busy = busy, capacity.machine_busy()
                self.tally.machine_busy.append((busy - was) / (now - busy_at))
                busy_at = now

    async def watch_drops(self, killed_at: float, until: float) -> None:
        """Join again every member whose socket dropped since the kill; time each."""
        rejoining: set[int] = set()
        tasks: list[asyncio.Task[None]] = []

        async def rejoin(slot: int, bot: Bot) -> None:
            env, spec = bot.client.env, bot.client.spec
            deadline = killed_at + BACK_TIMEOUT
            while time.monotonic() < deadline:
                client = Client(env, spec)
                if await client.start():
                    self.tally.back_ms.append((time.monotonic() - killed_at) * 1000)
                    self.bots[slot] = Bot(client)
                    return
                await asyncio.sleep(REJOIN_EVERY)
            self.tally.not_back += 1

        while time.monotonic() < until:
            for slot, bot in enumerate(self.bots):
                if bot.client.state == "dropped" and slot not in rejoining:
                    rejoining.add(slot)
                    self.tally.dropped += 1
                    tasks.append(asyncio.create_task(rejoin(slot, bot)))
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)

    def media_totals(self) -> dict[str, float]:
        totals = dict.fromkeys(("packets", "expected", "lost", "receiving"), 0.0)
        for bot in self.bots:
            if bot.media is not None:
                gauges = bot.media.gauges()
                for key in totals:
                    totals[key] += gauges[key]
        return totals

    async def leave(self) -> None:
        async def one(bot: Bot) -> None:
            for part in (bot.media, bot.publisher):
                if part is not None:
                    with contextlib.suppress(Exception):
                        await part.close()
            await bot.client.leave()

        await asyncio.gather(*(one(b) for b in self.bots), return_exceptions=True)


async def run_rooms(
    url: str,
    scenario: Scenario,
    casts: list[Cast],
    options: argparse.Namespace,
    cluster: SpawnedCluster | None,
    probe: Probe | None = None,
) -> dict[str, Any]:
    """One run; with ``probe`` (``--compare``), its readings over the steady window too."""
    run = RoomsRun(url, scenario, casts, options.media_rooms, options.subscribers)
    me = psutil.Process()
    bot_cpu_before = me.cpu_times()
    began = time.monotonic()
    readings: list[capacity.Reading] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        if probe is not None:  # each node's idle CPU first, no room open yet
            readings.append(await probe(session))
            await asyncio.sleep(IDLE_S)
            readings.append(await probe(session))
        await asyncio.gather(*(run.start_room(session, i, c) for i, c in enumerate(casts)))
        _say(f"{len(run.bots)} hosts in {len(casts)} rooms; members joining")
        await run.join_members(max(0.1, scenario.members.rate))
        _say(f"{len(run.bots)} joined; holding {scenario.duration:g} s")
        await asyncio.sleep(SETTLE)
        before, whole = await read_metrics(session, url)
        if probe is not None:
            readings.append(await probe(session))
        t0 = time.monotonic()
        await asyncio.sleep(scenario.duration / 2)
        steady, _ = await read_metrics(session, url)
        if probe is not None:
            readings.append(await probe(session))
        t1 = time.monotonic()
        media = run.media_totals()
        kill: dict[str, Any] | None = None
        if options.kill_node and cluster is not None:
            # The node holding the most members (node-0 when even): one that serves rooms.
            reading = await capacity.read(session, cluster)
            node = max(sorted(reading.nodes), key=lambda n: capacity.participants(reading.nodes[n]))
            killed_at = time.monotonic()
            killed = cluster.kill_node(node)
            _say(f"killed {node}" if killed else f"{node} not found: nothing killed")
            await run.watch_drops(killed_at, killed_at + BACK_TIMEOUT + 1)
            tally = run.tally
            kill = {
                "node": node,
                "killed": killed,
                "dropped": tally.dropped,
                "back": len(tally.back_ms),
                "not_back": tally.not_back,
                "back_ms": {
                    "p50": percentile(tally.back_ms, 50),
                    "p95": percentile(tally.back_ms, 95),
                    "max": round(max(tally.back_ms), 1) if tally.back_ms else None,
                },
            }
        else:
            await asyncio.sleep(scenario.duration / 2)
        await run.leave()
    bot_cpu_after = me.cpu_times()
    window = max(t1 - t0, 1e-6)
    used = (cpu_seconds(steady, whole) - cpu_seconds(before, whole)) / window
    cores = used if used > 0 else None
    participants = steady.get("salon_participants", 0.0)
    forwarded_pps = (
        steady.get("salon_media_forwarded_packets_total", 0.0)
        - before.get("salon_media_forwarded_packets_total", 0.0)
    ) / window
    expected = media.get("expected", 0.0)
    bot_cpu = (bot_cpu_after.user + bot_cpu_after.system) - (
        bot_cpu_before.user + bot_cpu_before.system
    )
    members = sum(len(c.members) for c in casts)
    return {
        "scenario": "rooms",
        "rooms": [c.room for c in casts],
        "members_per_room": len(casts[0].members) if casts else 0,
        "media_rooms": min(options.media_rooms, len(casts)),
        "subscribers_per_media_room": options.subscribers,
        "invited": members + len(casts),
        "admitted": len(run.tally.joins_ms),
        "refused": dict(run.tally.refused),
        "errors": {k[6:]: v for k, v in run.rec.counters.items() if k.startswith("error:")},
        "join_ms": {
            "p50": percentile(run.tally.joins_ms, 50),
            "p95": percentile(run.tally.joins_ms, 95),
            "p99": percentile(run.tally.joins_ms, 99),
        },
        "bot_loop_lag_ms": {
            "p95": percentile(run.tally.bot_lag_ms, 95),
            "p99": percentile(run.tally.bot_lag_ms, 99),
        },
        "machine_busy_while_joining": {
            "mean": _mean(run.tally.machine_busy),
            "p95": percentile(run.tally.machine_busy, 95),
            "cores": psutil.cpu_count(),
        },
        "media": {
            "receiving_bots": int(media.get("receiving", 0)),
            "packets": int(media.get("packets", 0)),
            "expected": int(expected),
            "lost": int(media.get("lost", 0)),
            "loss": round(media.get("lost", 0.0) / expected, 5) if expected else None,
        },
        "server": {
            "scope": "cluster" if whole else "node",
            "nodes": int(steady.get("salon_nodes", 1)),
            "participants": int(participants),
            "rooms": int(steady.get("salon_rooms", 0)),
            "cores_used": round(cores, 3) if cores else None,
            "forwarded_packets_per_s": round(forwarded_pps, 1),
            "members_per_core": round(participants / cores, 1) if cores else None,
            "forwarded_packets_per_s_per_core": round(forwarded_pps / cores, 1) if cores else None,
        },
        "kill": kill,
        "capacity": capacity.window(*readings) if len(readings) == 4 else None,
        "bot_cpu": round(bot_cpu / max(time.monotonic() - began, 1e-6), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def server_joins(redis_url: str, rooms: list[str]) -> int:
    """Join events the server recorded for ``rooms`` (members and hosts)."""
    total = 0
    for room in rooms:
        counts = await recorded(redis_url, room)
        total += sum(n for name, n in counts.items() if name.startswith("join:"))
    return total


def summary(result: dict[str, Any]) -> list[str]:
    server, media, join = result["server"], result["media"], result["join_ms"]
    busy = result["machine_busy_while_joining"]
    lines = [
        f"rooms: {len(result['rooms'])} rooms x {result['members_per_room']} members, "
        f"{result['media_rooms']} with media ({result['subscribers_per_media_room']} "
        "subscriber bots each)",
        f"  admitted {result['admitted']} of {result['invited']} (refused "
        f"{result['refused'] or 0}, errors {result['errors'] or 0}); "
        f"join ms p50 {join['p50']}  p95 {join['p95']}  p99 {join['p99']} (the bots' loop "
        f"lag meanwhile p95 {result['bot_loop_lag_ms']['p95']}  p99 "
        f"{result['bot_loop_lag_ms']['p99']}; the machine's busy cores mean "
        f"{busy['mean']}, p95 {busy['p95']} of {busy['cores']})",
        f"  media: {media['receiving_bots']} bots receiving, {media['packets']} packets, "
        f"lost {media['lost']} of {media['expected']} (loss {media['loss']})",
        f"  server ({server['scope']}, {server['nodes']} node(s)): {server['participants']} "
        f"participants in {server['rooms']} rooms, {server['cores_used']} cores, "
        f"{server['forwarded_packets_per_s']} forwarded packets/s; per core: "
        f"{server['members_per_core']} members, {server['forwarded_packets_per_s_per_core']} "
        "packets/s",
    ]
    if "server_joins" in result:
        lines.append(f"  server recorded {result['server_joins']} joins")
    if result["kill"]:
        kill = result["kill"]
        lines.append(
            f"  killed {kill['node']}: {kill['dropped']} dropped, {kill['back']} back "
            f"(p50 {kill['back_ms']['p50']} ms, p95 {kill['back_ms']['p95']} ms), "
            f"{kill['not_back']} not back"
        )
    lines.append(f"  bot CPU {result['bot_cpu']} of a core; load {result['load_average_1m']}")
    return lines


def prepare_rooms(url: str, admin_key: str, secret: str | None, scenario: Scenario,
                  rooms: int) -> list[Cast]:  # fmt: skip
    """``rooms`` rooms with their members and tokens, made through the REST API."""

    async def prepare_all() -> list[Cast]:
        calls: list[Callable[[], Awaitable[Cast]]] = [
            lambda: prepare(url, admin_key, scenario, secret)
        ] * rooms
        return await bounded(calls, 4)

    return asyncio.run(prepare_all())


def report_dir(args: argparse.Namespace, name: str) -> Path:
    default = Path("reports") / f"loadtest-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(args.report_dir) if args.report_dir else default


def compare_run(args: argparse.Namespace, scenario: Scenario) -> int:
    """``--compare 1,2``: the scenario against a fresh local cluster of each node count."""
    try:
        counts = capacity.parse_counts(args.compare)
    except ValueError:
        _say(f"--compare takes node counts with 1 among them, like 1,2 (got {args.compare!r})")
        return 2
    runs: list[tuple[int, dict[str, Any]]] = []
    for n in counts:
        # ``--per-node``: N nodes get N times the rooms, so every node runs at the load the
        # single node ran at (its per-core figure is then read at the same operating point).
        scale = n if args.per_node else 1
        options = argparse.Namespace(**{**vars(args), "media_rooms": args.media_rooms * scale})
        _say(f"--compare: {n} node(s), {args.rooms * scale} rooms: starting a local cluster "
             "behind HAProxy")  # fmt: skip
        try:
            cluster = spawn_cluster(n)
        except RuntimeError as exc:
            _say(f"the run failed: {exc}")
            return 1
        try:
            casts = prepare_rooms(cluster.url, cluster.admin_key, cluster.secret, scenario,
                                  args.rooms * scale)  # fmt: skip

            async def probe(session: aiohttp.ClientSession, c: SpawnedCluster = cluster) -> Any:
                return await capacity.read(session, c)

            # ``--kill-node``: in runs of 2+ nodes, once their window is measured.
            victim = cluster if args.kill_node and n > 1 else None
            runs.append((n, asyncio.run(run_rooms(cluster.url, scenario, casts, options, victim,
                                                  probe))))  # fmt: skip
        except (AdminError, OSError, RuntimeError, aiohttp.ClientError) as exc:
            _say(f"the run failed: {exc}")
            return 1
        finally:
            cluster.stop()
    result = {"scenario": "rooms", "compare": counts, "per_node": args.per_node, "runs": runs,
              "comparison": capacity.compare(runs)}  # fmt: skip
    lines = capacity.summary(result, summary)
    json_path, html_path = write_plain(result, lines, "rooms", report_dir(args, "rooms-compare"))
    print("\n".join(lines))
    print(f"report: {json_path} and {html_path}")
    complete = all(r["admitted"] == r["invited"] for _, r in runs)
    return 0 if complete else 1


def run(args: argparse.Namespace, scenario: Scenario) -> int:
    """The ``run`` command for this scenario (``loadtest.cli`` hands it over)."""
    if getattr(args, "compare", None):
        return compare_run(args, scenario)
    if args.kill_node and not args.spawn_cluster:
        _say("--kill-node needs --spawn-cluster (a node of its own to kill)")
        return 2
    spawned: SpawnedServer | None = None
    cluster: SpawnedCluster | None = None
    try:
        if args.spawn_server:
            spawned = spawn_pinned()
        elif args.spawn_cluster:
            _say(f"starting a local cluster of {args.spawn_cluster} nodes behind HAProxy")
            cluster = spawn_cluster(args.spawn_cluster)
        target = spawned or cluster
        url = target.url if target else args.url
        admin_key = target.admin_key if target else args.admin_key
        secret = target.secret if target else args.secret
        _say(f"preparing {args.rooms} rooms of {scenario.members.count} members on {url}")
        casts = prepare_rooms(url, admin_key, secret, scenario, args.rooms)
        result = asyncio.run(run_rooms(url, scenario, casts, args, cluster))
        redis_url = spawned.redis.url if spawned else args.redis_url
        if redis_url:
            result["server_joins"] = asyncio.run(server_joins(redis_url, result["rooms"]))
    except (AdminError, OSError, RuntimeError, aiohttp.ClientError) as exc:
        _say(f"the run failed: {exc}")
        return 1
    finally:
        if spawned is not None:
            spawned.stop()
        if cluster is not None:
            cluster.stop()
    json_path, html_path = write_plain(result, summary(result), "rooms", report_dir(args, "rooms"))
    print("\n".join(summary(result)))
    print(f"report: {json_path} and {html_path}")
    return 0 if result["admitted"] == result["invited"] else 1
