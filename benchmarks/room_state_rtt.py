"""Chat and poll-vote round trips with the room state in memory and in Redis.

``python -m benchmarks.room_state_rtt [--rounds N]`` starts one redis-server and, for each
``rooms.state``, one app in this process (aiohttp's test server on loopback); a host and a
member join; the member sends ``rounds`` chat messages and ``rounds`` poll votes one
after the other, each timed from send to its answer (her own ``chat`` echo, her
``poll_voted``). Prints p50 / p99 / mean in milliseconds per state. One client, one
process, no load: the figure is the latency a state call adds, not a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.devtools.redis_embed import start_redis
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from server.settings import load_settings

STATES = ("memory", "redis")


class Ws:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            data: dict[str, Any] = json.loads((await self.ws.receive(timeout=10)).data)
            if data["type"] == kind:
                return data


async def timed(ws: Ws, message: dict[str, Any], answer: str) -> float:
    start = time.perf_counter()
    await ws.send(message)
    await ws.until(answer)
    return (time.perf_counter() - start) * 1000


async def run_state(url: str, state: str, rounds: int) -> dict[str, list[float]]:
    redis = Redis.from_url(url)
    await redis.flushdb()
    await ops.set_member(MemberStore(redis), "cora", "core", "Cora")
    await ops.set_member(MemberStore(redis), "host", "core", "Host")
    await ops.create_room(RoomStore(redis), "vip", "VIP", "core")
    await redis.aclose()
    settings = load_settings(
        env={},
        overrides={
            "redis.url": url,
            "auth.secret": secrets.token_urlsafe(32),
            "engagement.spill_dir": tempfile.mkdtemp(),
            "rooms.state": state,
            "interactions.chat_burst": 10 * rounds,
            "interactions.vote_burst": 10 * rounds,
        },
    )
    server = TestServer(create_app(settings))
    await server.start_server()
    figures: dict[str, list[float]] = {"chat": [], "vote": []}
    try:
        async with aiohttp.ClientSession() as http:
            url_ws = str(server.make_url("/ws"))
            sockets = []
            for member, role in (("host", "host"), ("cora", "member")):
                ws = Ws(await http.ws_connect(url_ws, protocols=("salon.v1.json",)))
                tok = ops.make_token(settings.auth, member, "vip", role, 600)
                await ws.send({"type": "join", "token": tok, "room": "vip"})
                await ws.until("joined")
                sockets.append(ws)
            host, cora = sockets
            await host.send({"type": "poll_create", "question": "?", "options": ["a", "b"]})
            poll = (await cora.until("poll"))["poll"]["id"]
            for n in range(rounds):
                chat = {"type": "chat_send", "text": f"line {n}"}
                figures["chat"].append(await timed(cora, chat, "chat"))
                vote = {"type": "poll_vote", "id": poll, "option": n % 2}
                figures["vote"].append(await timed(cora, vote, "poll_voted"))
            for ws in sockets:
                await ws.ws.close()
    finally:
        await server.close()
    return figures


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50:6.2f}  p99 {p99:6.2f}  mean {statistics.fmean(values):6.2f} ms"


async def main(rounds: int) -> None:
    with start_redis() as redis_server:
        for state in STATES:
            figures = await run_state(redis_server.url, state, rounds)
            for kind, values in figures.items():
                print(f"{state:6} {kind:4} x{len(values)}: {describe(values)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    asyncio.run(main(parser.parse_args().rounds))
