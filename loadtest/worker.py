"""A bot process: runs its share of the plan and hands its figures to the orchestrator.

Started by ``loadtest.runner`` through ``loadtest.procs`` (role ``bots``). It holds
thousands of signaling bots, dozens of media bots, or the host, in one event loop, and
answers these commands:

- ``go {members_at, stop_at, t0}``: start every bot at ``members_at + start_at``;
  behaviours act until ``stop_at`` (wall clock). Answers at once.
- ``stats``: everything recorded since the last ``stats`` (``Recorder.take``), media
  gauges refreshed first, and how many bots are in which state.
- ``finish``: stop acting, have every bot leave politely (bounded), and answer with the
  last figures. ``stop`` then ends the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import aiohttp

from loadtest import behaviours as b
from loadtest.client import BotSpec, Client, Env
from loadtest.procs import Message, serve_commands
from loadtest.scenario import Scenario
from loadtest.stats import Recorder

if TYPE_CHECKING:  # aiortc is imported only by processes that hold media bots
    from loadtest.media import MediaBot, Publisher

LEAVE_CONCURRENCY = 200
FINISH_TIMEOUT = 20.0


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (a socket is a file)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


def cap_video_bitrate(kbps: int) -> None:
    """Cap aiortc's VP8 encoder in this process (it follows the server's REMB up to it)."""
    from aiortc.codecs import vpx

    top = kbps * 1000
    vpx.MAX_BITRATE = top
    vpx.DEFAULT_BITRATE = min(vpx.DEFAULT_BITRATE, top)
    vpx.MIN_BITRATE = min(vpx.MIN_BITRATE, top)


class Worker:
    def __init__(
        self, name: str, ws_url: str, room: str, scenario: Scenario, specs: list[BotSpec], seed: int
    ) -> None:
        self.name = name
        self.specs = specs
        self.rec = Recorder()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.env = Env(self.session, ws_url, room, self.rec, scenario, random.Random(seed))
        self.clients: list[Client] = []
        self.media: dict[str, MediaBot] = {}
        self.publishers: dict[str, Publisher] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    # --- commands -----------------------------------------------------------------------

    async def handle(self, message: Message) -> Message:
        op = message["op"]
        if op == "go":
            self.rec.t0 = message["t0"]
            self.env.stop_at = message["stop_at"]
            for spec in self.specs:
                task = asyncio.create_task(self.life(spec, message["members_at"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            return {"ok": True}
        if op == "clock":  # the host: the members' clock and end, once they are known
            self.rec.t0 = message["t0"]
            self.env.stop_at = message["stop_at"]
            return {"ok": True}
        if op == "stats":
            return {"ok": True, "delta": self.take(), "states": self.states()}
        if op == "finish":
            await self.finish()
            return {"ok": True, "delta": self.take(), "states": self.states()}
        raise ValueError(f"unknown op {op!r}")

    def take(self) -> dict[str, Any]:
        for who, bot in self.media.items():
            self.rec.gauge(f"{self.name}:{who}", bot.gauges())
        for who, publisher in self.publishers.items():
            self.rec.gauge(f"{self.name}:{who}:pub", publisher.gauges())
        return self.rec.take()

    def states(self) -> dict[str, int]:
        counts = Counter(c.state for c in self.clients)
        counts["pending"] = len(self.specs) - len(self.clients)
        return dict(counts)

    # --- one bot's life -----------------------------------------------------------------

    async def life(self, spec: BotSpec, members_at: float) -> None:
        await asyncio.sleep(max(0.0, members_at + spec.start_at - time.time()))
        if not self.env.acting:
            return
        client = Client(self.env, spec)
        self.clients.append(client)
        if not await client.start():
            return
        view = b.RoomView(client)
        if spec.kind == "host":
            host = b.HostActions(client, view)
            if self.env.scenario.host.publish:
                from loadtest.media import Publisher

                publisher = Publisher(client)
                self.publishers[spec.who] = publisher
                await publisher.start()
            self.rec.count("host:ready")
            await host.run()
            return
        actions = b.MemberActions(client, view)
        if spec.kind == "media":
            from loadtest.media import MediaBot

            bot = MediaBot(client)
            self.media[spec.who] = bot
            await bot.start()
        await actions.run()

    async def finish(self) -> None:
        self.env.stop_at = min(self.env.stop_at, time.time())
        gate = asyncio.Semaphore(LEAVE_CONCURRENCY)

        async def leave(client: Client) -> None:
            async with gate:
                bot = self.media.get(client.spec.who)
                if bot is not None:
                    await bot.close()
                publisher = self.publishers.get(client.spec.who)
                if publisher is not None:
                    await publisher.close()
                await client.leave()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(leave(c) for c in self.clients), return_exceptions=True),
                FINISH_TIMEOUT,
            )
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.session.close()


async def run_worker(
    conn: Connection,
    label: str,
    ws_url: str,
    room: str,
    scenario: Scenario,
    specs: list[BotSpec],
    seed: int,
) -> None:
    raise_fd_limit()
    publishes = scenario.host.publish and any(s.kind == "host" for s in specs)
    if publishes or any(s.kind == "media" for s in specs):
        from server.media.passthrough import install

        install()  # pass-through receivers: media bots count frames, never decode them
        cap_video_bitrate(scenario.host.max_kbps)
    worker = Worker(label, ws_url, room, scenario, specs, seed)
    try:
        conn.send({"ok": True})
        await serve_commands(conn, worker.handle)
    finally:
        await worker.finish()
        await worker.close()
