"""``python -m loadtest run coupon_rush``: N members claim one coupon of a smaller stock in
the same second.

The operator's side goes through the REST API (room, members, tokens, and a coupon of
``--stock`` codes, one per member); every member joins over the WebSocket (JSON), the
host drops the coupon, and once every member has seen the offer each one sends its claim
at an instant drawn uniformly within ``--spread`` seconds (0: all at once). A claim's
latency is from its send to the answer carrying its ``ref`` (``coupon_claimed`` or an
``error``), measured by the bot on its own loop. The report says how many were granted,
whether anyone got two, the refusals by code, the latency percentiles, and what the
server's own figures (``GET /api/coupons/ID``) say; ``--redis-url`` (or
``--spawn-server``) also counts the codes in Redis per member.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import math
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from loadtest.admin import Admin, Cast, prepare
from loadtest.scenario import Scenario
from loadtest.spawn import SpawnedServer, spawn_pinned

DEFAULT_STOCK = 100
TARGET_P99_MS = 50.0
JOIN_CONCURRENCY = 50
ANSWER_TIMEOUT = 30.0
JOIN_ATTEMPTS = 5


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    granted_ms: list[float] = field(default_factory=list)
    granted: dict[str, str] = field(default_factory=dict)  # code -> member
    granted_per_member: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    server_cpu: float | None = None  # share of a core while the claims were answered
    server_cpu_ms: float | None = None  # server CPU time per claim (ms)


def _say(text: str) -> None:
    print(f"loadtest: {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 2)


async def _join(session: aiohttp.ClientSession, ws_url: str, room: str, token: str) -> Any:
    """A joined socket; a gate that cannot read Redis in time is asked again, as the
    room page does when told to try again in a moment."""
    for attempt in range(JOIN_ATTEMPTS):
        ws = await session.ws_connect(ws_url, protocols=("salon.v1.json",), heartbeat=30)
        await ws.send_str(json.dumps({"type": "join", "token": token, "room": room}))
        while True:
            reply = json.loads((await ws.receive(timeout=ANSWER_TIMEOUT)).data)
            if reply["type"] in ("joined", "error"):
                break
        if reply["type"] == "joined":
            return ws
        await ws.close()
        if reply["code"] != "unavailable" or attempt == JOIN_ATTEMPTS - 1:
            raise RuntimeError(f"join refused: {reply['code']}: {reply['message']}")
        await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


class Bot:
    """One joined socket, read all the time (a socket left unread is closed by the
    server as too slow): it notes the offer and the answer to its claim as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        loop = asyncio.get_running_loop()
        self.offer: asyncio.Future[str] = loop.create_future()
        self.answer: asyncio.Future[tuple[float, dict[str, Any]]] = loop.create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            if message.get("ref") == "rush" and not self.answer.done():
                self.answer.set_result((time.perf_counter(), message))
            elif message["type"] == "coupon_drop" and not self.offer.done():
                self.offer.set_result(str(message["id"]))

    async def claim(self, member: str, at: float, tally: Tally) -> None:
        drop = await asyncio.wait_for(asyncio.shield(self.offer), ANSWER_TIMEOUT)
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        sent = time.perf_counter()
        await self.ws.send_str(json.dumps({"type": "coupon_claim", "drop": drop, "ref": "rush"}))
        try:
            got, message = await asyncio.wait_for(asyncio.shield(self.answer), ANSWER_TIMEOUT)
        except TimeoutError:
            tally.lost += 1
            return
        tally.latencies_ms.append((got - sent) * 1000)
        if message["type"] == "coupon_claimed":
            tally.granted_ms.append((got - sent) * 1000)
            tally.granted[message["code"]] = member
            tally.granted_per_member[member] += 1
        else:
            tally.refused[str(message.get("code"))] += 1

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def rush(
    url: str,
    admin_key: str,
    cast: Cast,
    stock: int,
    spread: float,
    join_rate: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    coupon = f"{cast.room}-rush"
    ws_url = url.replace("http", "ws", 1).rstrip("/") + "/ws"
    tally = Tally()
    # No cap on connections: every member's socket holds one for the whole run.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        admin = Admin(session, url, admin_key)
        body = {"title": "Rush", "value": "5.00", "count": stock, "per_member": 1, "tiers": []}
        await admin.put_coupon(coupon, body)
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)
        begin = time.monotonic()

        async def member_bot(index: int, token: str) -> Bot:
            # Joins at the scenario's rate: the rush is the claims, not the gate.
            await asyncio.sleep(max(0.0, begin + index / join_rate - time.monotonic()))
            async with gate:
                return Bot(await _join(session, ws_url, cast.room, token))

        host = Bot(await _join(session, ws_url, cast.room, cast.host_token))
        bots = await asyncio.gather(*(member_bot(i, t) for i, t in enumerate(cast.tokens)))
        _say(f"{len(bots)} members joined; the host drops a coupon of {stock}")
        await host.ws.send_str(json.dumps({"type": "coupon_drop", "coupon": coupon}))
        await asyncio.wait_for(asyncio.gather(*(b.offer for b in bots)), ANSWER_TIMEOUT)
        _say(f"everyone has the offer; the claims come within {spread:g} s")
        start = time.monotonic() + 1.0
        rng = random.Random(7)
        server = psutil.Process(server_pid) if server_pid else None
        cpu_before = server.cpu_times() if server else None
        began = time.monotonic()
        await asyncio.gather(
            *(
                bot.claim(member, start + rng.uniform(0, spread), tally)
                for bot, member in zip(bots, cast.members, strict=True)
            )
        )
        window = time.monotonic() - began
        if server is not None and cpu_before is not None:
            after = server.cpu_times()
            used = (after.user + after.system) - (cpu_before.user + cpu_before.system)
            tally.server_cpu = round(used / window, 3)
            tally.server_cpu_ms = round(used * 1000 / max(1, len(bots)), 3)
        figures = await admin.coupon(coupon)
        for bot in [host, *bots]:
            await bot.close()
    return {
        "coupon": coupon,
        "members": len(cast.members),
        "stock": stock,
        "spread_s": spread,
        "granted": len(tally.granted),
        "granted_twice": sum(1 for n in tally.granted_per_member.values() if n > 1),
        "refused": dict(tally.refused),
        "lost": tally.lost,
        "latency_ms": {
            "p50": percentile(tally.latencies_ms, 50),
            "p95": percentile(tally.latencies_ms, 95),
            "p99": percentile(tally.latencies_ms, 99),
            "max": round(max(tally.latencies_ms), 2) if tally.latencies_ms else None,
        },
        "granted_latency_ms": {
            "p50": percentile(tally.granted_ms, 50),
            "p99": percentile(tally.granted_ms, 99),
        },
        "server": {"claimed": figures["claimed"], "drops": figures["drops"]},
        "server_cpu": tally.server_cpu,
        "server_cpu_ms_per_claim": tally.server_cpu_ms,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def redis_check(redis_url: str, coupon: str) -> dict[str, int]:
    """The codes in Redis, and how many members hold more than one."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        codes = await client.hgetall(f"salon:{{c:{coupon}}}:codes")
    finally:
        await client.aclose()
    holders = Counter(json.loads(v)["m"] for v in codes.values())
    return {"codes": len(codes), "members_with_two": sum(1 for n in holders.values() if n > 1)}


def summary(result: dict[str, Any]) -> list[str]:
    lat = result["latency_ms"]
    verdict = "met" if lat["p99"] is not None and lat["p99"] <= TARGET_P99_MS else "MISSED"
    return [
        f"coupon_rush: {result['members']} members, stock {result['stock']}, "
        f"claims within {result['spread_s']} s",
        f"  granted {result['granted']} (server: {result['server']['claimed']}), "
        f"granted twice {result['granted_twice']}, refused {result['refused']}, "
        f"lost {result['lost']}",
        f"  claim latency ms: p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  "
        f"max {lat['max']}  (target p99 <= {TARGET_P99_MS:g}: {verdict})",
        f"  granted claims only: p50 {result['granted_latency_ms']['p50']}  "
        f"p99 {result['granted_latency_ms']['p99']}",
        f"  server CPU while claiming: {result['server_cpu']} of a core, "
        f"{result['server_cpu_ms_per_claim']} ms per claim; "
        f"machine load average (1 min): {result['load_average_1m']}",
        *([f"  redis: {result['redis']}"] if "redis" in result else []),
    ]


def write(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    return write_plain(result, summary(result), "coupon_rush", directory)


def write_plain(
    result: dict[str, Any], lines: list[str], title: str, directory: Path
) -> tuple[Path, Path]:
    """``report.json`` (every figure) and a plain ``report.html`` of the summary lines."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(json.dumps(result, indent=2))
    text = "\n".join(html.escape(line) for line in lines)
    html_path.write_text(
        f"<!doctype html><meta charset=utf-8><title>{title}</title>"
        f"<h1>{title}</h1><pre>{text}</pre>"
    )
    return json_path, html_path


def run(args: argparse.Namespace, scenario: Scenario) -> int:
    """The ``run`` command for this scenario (``loadtest.cli`` hands it over)."""
    spawned: SpawnedServer | None = None
    stock = (
        DEFAULT_STOCK
        if scenario.members.count >= DEFAULT_STOCK
        else scenario.members.count // 5 or 1
    )
    spread = max(0.0, args.spread)
    try:
        if args.spawn_server:
            spawned = spawn_pinned()
        url = spawned.url if spawned else args.url
        admin_key = spawned.admin_key if spawned else args.admin_key
        secret = spawned.secret if spawned else args.secret
        _say(f"preparing a room and {scenario.members.count} members on {url}")
        cast = asyncio.run(prepare(url, admin_key, scenario, secret))
        rate = scenario.members.rate
        pid = spawned.pid if spawned else None
        result = asyncio.run(rush(url, admin_key, cast, stock, spread, rate, pid))
        redis_url = spawned.redis.url if spawned else args.redis_url
        if redis_url:
            result["redis"] = asyncio.run(redis_check(redis_url, result["coupon"]))
    finally:
        if spawned is not None:
            spawned.stop()
    directory = (
        args.report_dir
        or Path("reports") / f"loadtest-coupon_rush-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    json_path, html_path = write(result, directory)
    print("\n".join(summary(result)))
    print(f"report: {json_path} and {html_path}")
    exact = result["granted"] == min(stock, result["members"]) and result["granted_twice"] == 0
    return 0 if exact and not result["lost"] else 1
