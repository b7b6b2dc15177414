"""Webhooks with a slow receiver (1 s per request) must not change room latency.

Starts a throw-away Redis and ``salon serve`` (``loadtest.spawn``) and makes the room and
its members through the REST API (``loadtest.admin``); 20 members join one room and one of them
after another sends chat lines (``--rate`` per second); the time from send to each other
member's copy is the room latency. Phase 1 runs without webhooks. Phase 2 registers an
endpoint on a receiver in this process that takes ``--slow`` seconds per request, and
during the same kind of chat sends ``--deliveries`` RSVPs (each queues a webhook). The
report gives chat p50/p99 for both phases, then waits for the backlog to drain and says
whether the receiver saw every delivery once, in the order they were queued.

    python -m loadtest.webhook_bench [--rate 20] [--duration 10] [--deliveries 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time

import aiohttp
from aiohttp import web

from loadtest.admin import local_tokens, seed_room
from loadtest.spawn import free_port, spawn_server

ROOM = "wh-bench"
MEMBERS = 20


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.webhook_bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="chat lines per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--deliveries", type=int, default=20, help="webhooks queued in phase 2")
    parser.add_argument("--slow", type=float, default=1.0, help="receiver seconds per request")
    return parser.parse_args(argv)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


class SlowReceiver:
    def __init__(self, slow: float) -> None:
        self.slow = slow
        self.seen: list[str] = []
        self._arrived = asyncio.Event()

    async def wait_for(self, count: int) -> None:
        while len(self.seen) < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(self.slow)
        self.seen.append(request.headers.get("Salon-Delivery-Id", ""))
        self._arrived.set()
        return web.Response(text="ok")


async def _chat_phase(base: str, tokens: list[str], rate: float, duration: float) -> list[float]:
    """Chat latencies in ms: one sender at a time, every other member receives."""
    latencies: list[float] = []
    sent: dict[str, float] = {}
    ws_url = base.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        sockets = []
        for tok in tokens:
            ws = await http.ws_connect(ws_url, protocols=("salon.v1.json",))
            await ws.send_str(json.dumps({"type": "join", "token": tok, "room": ROOM}))
            sockets.append(ws)

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "chat" and data["text"] in sent:
                    latencies.append((time.perf_counter() - sent[data["text"]]) * 1000)

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        await asyncio.sleep(1.0)
        n = 0
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            text = f"line {n} {secrets.token_hex(3)}"
            sent[text] = time.perf_counter()
            await sockets[n % len(sockets)].send_str(
                json.dumps({"type": "chat_send", "text": text})
            )
            n += 1
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(1.0)
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return latencies


async def _rsvps(base: str, code: str, tokens: list[str], gap: float) -> None:
    async with aiohttp.ClientSession() as http:
        for tok in tokens:
            async with http.post(f"{base}/api/hooks/{code}/rsvp", json={"token": tok}) as r:
                assert r.status == 200, await r.text()
            await asyncio.sleep(gap)


async def main_async(args: argparse.Namespace) -> int:
    settings = {"SALON_INTERACTIONS_CHAT_RATE": "50", "SALON_INTERACTIONS_CHAT_BURST": "50"}
    settings |= {"SALON_WEBHOOKS_BACKOFF_MIN": "0.2", "SALON_WEBHOOKS_TIMEOUT": "5"}
    server = await asyncio.to_thread(spawn_server, None, 10, settings)
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    base = server.url
    receiver = SlowReceiver(args.slow)
    runner = web.AppRunner(web.Application())
    runner.app.router.add_post("/hook", receiver.handle)
    try:
        ids = [f"m{i}" for i in range(max(MEMBERS, args.deliveries))]
        await seed_room(base, server.admin_key, ROOM, "Bench", ids, len(ids) + 5)
        tokens = local_tokens(server.secret, ROOM, ids, "member")
        await runner.setup()
        hook_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", hook_port).start()

        quiet = await _chat_phase(base, tokens[:MEMBERS], args.rate, args.duration)
        async with aiohttp.ClientSession(headers=auth) as http:
            hook = {"url": f"http://127.0.0.1:{hook_port}/hook", "kinds": ["rsvp.created"]}
            async with http.post(f"{base}/api/webhooks", json=hook) as r:
                endpoint = (await r.json())["id"]
            session = {
                "room_id": ROOM,
                "title": "Bench",
                "starts_at": int(time.time() * 1000) + 3_600_000,
            }
            async with http.put(f"{base}/api/sessions/bench", json=session) as r:
                assert r.status == 200, await r.text()
            async with http.post(
                f"{base}/api/sessions/bench/links", json={"channel": "bench"}
            ) as r:
                code = (await r.json())["code"]
        gap = args.duration / max(1, args.deliveries)
        busy, _ = await asyncio.gather(
            _chat_phase(base, tokens[:MEMBERS], args.rate, args.duration),
            _rsvps(base, code, tokens[: args.deliveries], gap),
        )
        backlog_at_end = args.deliveries - len(receiver.seen)
        started = time.perf_counter()
        await receiver.wait_for(args.deliveries)
        drained = time.perf_counter() - started
        async with (
            aiohttp.ClientSession(headers=auth) as http,
            http.get(f"{base}/api/webhooks/{endpoint}/deliveries?limit=500") as r,
        ):
            queued = [d["id"] for d in (await r.json())["deliveries"]][::-1]
        in_order = receiver.seen == queued
        print(
            f"chat without webhooks: n={len(quiet)} p50={_pct(quiet, 0.5):.1f} ms "
            f"p99={_pct(quiet, 0.99):.1f} ms"
        )
        print(
            f"chat with slow receiver ({args.slow:.1f} s/request): n={len(busy)} "
            f"p50={_pct(busy, 0.5):.1f} ms p99={_pct(busy, 0.99):.1f} ms"
        )
        print(
            f"webhooks: {args.deliveries} queued, backlog {backlog_at_end} when chat ended, "
            f"drained {drained:.1f} s later; every delivery once and in order: {in_order}"
        )
        return 0 if in_order else 1
    finally:
        await runner.cleanup()
        await asyncio.to_thread(server.stop)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
