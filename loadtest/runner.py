"""The orchestrator of ``python -m loadtest run``: set up, drive, watch, stop, report.

1. Make the room, members and tokens through the server's API (``loadtest.admin``).
2. Start the bot processes of the plan (``loadtest.plan``), pinned to the bots' cores.
3. Start the host (joins, goes live if the scenario publishes) and wait until it is
   ready; then start the members at the scenario's rate.
4. Every second: collect each process's figures (``Totals``), read the server's
   ``/metrics`` and the bot processes' CPU, and refresh the live display.
5. At the end, or on Ctrl-C (SIGINT/SIGTERM): stop acting, have everyone leave, read
   the server's event stream when its Redis is known, and write the report.

Every wait is bounded, so the run ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

import aiohttp

from loadtest import verify
from loadtest.admin import Cast
from loadtest.cpu import CoreLoad, ProcessCpu, udp_counters
from loadtest.display import Display
from loadtest.plan import Plan
from loadtest.procs import BenchError, Child, Cores, spawn
from loadtest.scenario import Scenario
from loadtest.scrape import MetricsSampler
from loadtest.stats import Totals

START_TIMEOUT = 60.0
HOST_TIMEOUT = 40.0
FINISH_TIMEOUT = 40.0
TICK = 1.0
GRACE = 15.0  # after the plan's end: time for the last joins to finish


@dataclass
class Run:
    """Everything one run collects; ``loadtest.report`` turns it into the report."""

    scenario: Scenario
    cast: Cast
    plan: Plan
    url: str
    bot_cores: Cores
    redis_url: str | None = None
    totals: Totals = field(default_factory=Totals)
    sampler: MetricsSampler | None = None
    bots_cpu: list[tuple[float, float]] = field(default_factory=list)  # (t, cores busy)
    # (t, packets, expected, lost, subscribers receiving video), summed over media bots
    media_series: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    spawned: bool = False
    pinning: str = ""
    command: str = ""
    # A spawned server: its processes (salon serve, redis-server) and its cores, so that
    # other programs' load on those cores can be told apart (t, server, others).
    server_pids: list[int] = field(default_factory=list)
    server_cores: Cores = None
    server_core: list[tuple[float, float, float]] = field(default_factory=list)
    udp: dict[str, int] = field(default_factory=dict)  # this machine's UDP counters, deltas
    started: float = 0.0  # wall time of the members' start (t = 0 in every series)
    ended: float = 0.0
    interrupted: bool = False
    failure: str | None = None
    recorded: dict[str, int] | None = None
    states: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.time()) - self.started if self.started else 0.0


class Orchestrator:
    def __init__(self, run: Run, display: Display) -> None:
        self.run = run
        self.display = display
        self.children: list[Child] = []
        self.host: Child | None = None
        self._stop = asyncio.Event()
        self._bots = ProcessCpu([os.getpid()])
        self._core: CoreLoad | None = None
        if run.server_cores and run.server_pids:
            self._core = CoreLoad(run.server_cores, run.server_pids)

    # --- processes ----------------------------------------------------------------------

    async def start_processes(self) -> None:
        run, ws_url = self.run, self.run.url.replace("http", "ws", 1).rstrip("/") + "/ws"
        common = {"ws_url": ws_url, "room": run.cast.room, "scenario": run.scenario}
        groups = list(run.plan.groups)
        if run.plan.host is not None:
            groups.insert(0, ("host", [run.plan.host]))
        for index, (name, specs) in enumerate(groups):
            child = spawn(
                name, "bots", run.bot_cores, label=name, specs=specs, seed=index, **common
            )
            self.children.append(child)
            if name == "host":
                self.host = child
        for child in self.children:
            await asyncio.to_thread(child.reply, START_TIMEOUT)
            if child.process.pid is not None:
                self._bots.add(child.process.pid)

    async def collect(self, children: list[Child] | None = None) -> None:
        async def one(child: Child) -> None:
            reply = await asyncio.to_thread(child.call, "stats")
            self.run.totals.merge(reply["delta"])
            self.run.states[child.name] = reply["states"]

        await asyncio.gather(*(one(c) for c in (children or self.children)))

    def sample_media(self) -> None:
        totals = self.run.totals
        if any(g.get("media") for g in totals.gauges.values()):
            self.run.media_series.append(
                (
                    round(time.time() - self.run.started, 2),
                    totals.gauge_sum("packets"),
                    totals.gauge_sum("expected"),
                    totals.gauge_sum("lost"),
                    totals.gauge_sum("receiving"),
                )
            )

    def sample_cpu(self, dt: float) -> None:
        """The bot processes' CPU (this one included) and, for a spawned server, its core."""
        t = round(time.time() - self.run.started, 2)
        busy = self._bots.take()
        if dt > 0:
            self.run.bots_cpu.append((t, busy / dt))
        if self._core is not None:
            server, others = self._core.take()
            self.run.server_core.append((t, server, others))

    # --- the run ------------------------------------------------------------------------

    def request_stop(self) -> None:
        if not self._stop.is_set():
            self.run.interrupted = True
            self._stop.set()

    async def _host_ready(self) -> None:
        if self.host is None:
            return
        now = time.time()
        await asyncio.to_thread(
            self.host.call, "go", t0=now, members_at=now, stop_at=now + 10 * 86400
        )
        deadline = time.monotonic() + HOST_TIMEOUT
        while self.run.totals.counters["host:ready"] < 1 and not self._stop.is_set():
            if self.run.totals.counters["join:failed"]:
                raise BenchError(f"the host could not join: {self._errors()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the host was not ready within {HOST_TIMEOUT:.0f}s")
            await asyncio.sleep(0.2)
            await self.collect([self.host])

    def _errors(self) -> str:
        errors = {k[6:]: v for k, v in self.run.totals.counters.items() if k.startswith("error:")}
        return ", ".join(f"{k} ×{v}" for k, v in errors.items()) or "no error code"

    async def drive(self, session: aiohttp.ClientSession) -> None:
        run = self.run
        await self._host_ready()
        run.started = time.time() + 0.5
        if self._stop.is_set():  # interrupted while the host got ready: no members
            return
        run.totals.start(run.started)
        self._bots.take()
        if self._core is not None:
            self._core.take()
        udp_before = udp_counters()
        if run.sampler is not None:
            run.sampler.t0 = run.started
        members = [c for c in self.children if c is not self.host]
        stop_at = run.started + run.plan.length
        if self.host is not None:  # its figures share the members' clock from now on
            await self.collect([self.host])
            await asyncio.to_thread(self.host.call, "clock", t0=run.started, stop_at=stop_at)
        for child in members:
            await asyncio.to_thread(
                child.call, "go", t0=run.started, members_at=run.started, stop_at=stop_at
            )
        sampling = asyncio.create_task(run.sampler.read_forever(session)) if run.sampler else None
        last = time.monotonic()
        try:
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TICK)
                await self.collect()
                now = time.monotonic()
                self.sample_cpu(now - last)
                last = now
                self.sample_media()
                self.display.update(run)
                if time.time() >= stop_at and self._settled(stop_at):
                    break
        finally:
            if sampling is not None:
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
        udp_after = udp_counters()
        run.udp = {k: udp_after[k] - udp_before.get(k, 0) for k in udp_after}
        if run.sampler is not None:
            await run.sampler.read(session)  # the last figures, before anyone leaves

    def _settled(self, stop_at: float) -> bool:
        """Every planned bot has started and none is still connecting (or grace is up)."""
        if time.time() > stop_at + GRACE:
            return True
        pending = sum(
            s.get("pending", 0) + s.get("connecting", 0) for s in self.run.states.values()
        )
        return pending == 0

    async def finish(self, session: aiohttp.ClientSession) -> None:
        run = self.run
        members = [c for c in self.children if c is not self.host and c.process.is_alive()]

        async def finish_one(child: Child) -> None:
            with contextlib.suppress(BenchError):
                reply = await asyncio.to_thread(child.call, "finish", FINISH_TIMEOUT)
                run.totals.merge(reply["delta"])
                run.states[child.name] = reply["states"]

        await asyncio.gather(*(finish_one(c) for c in members))
        if self.host is not None and self.host.process.is_alive():
            await finish_one(self.host)
        run.totals.flush()
        run.ended = time.time()
        if run.redis_url:

            async def depth() -> float:
                sample = await run.sampler.read(session, keep=False) if run.sampler else None
                return sample.get("salon_event_buffer_depth") if sample else 0.0

            with contextlib.suppress(Exception):
                run.recorded = await verify.recorded_when_settled(
                    run.redis_url, run.cast.room, depth
                )

    def stop_processes(self) -> None:
        for child in reversed(self.children):
            child.stop()


async def execute(run: Run, display: Display) -> Run:
    """Drive ``run`` to its end (or an interrupt) and collect everything for the report."""
    orchestrator = Orchestrator(run, display)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, orchestrator.request_stop)
    try:
        async with aiohttp.ClientSession() as session:
            try:
                await orchestrator.start_processes()
                display.start(run)
                await orchestrator.drive(session)
            except BenchError as exc:
                run.failure = str(exc)
            finally:
                display.phase("finishing: bots leave")
                await orchestrator.finish(session)
                display.stop(run)
    finally:
        orchestrator.stop_processes()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if not run.started:
        run.started = run.ended
    return run
