"""What recording costs: server CPU for one live room with N subscribers (default 50),
recording off and on, in one run (issue 16's target: at most 5 % of a core more).

The processes are the fan-out benchmark's (``benchmarks._peers``: one publisher of a
640x480 VP8 pattern and an Opus tone, subscriber bots that count packets and frames
without decoding) except the server, which is this module's ``run_server``: the room's
media through ``server/rooms/media.py`` (the door the live server uses), whose recording
(``start_recording``: the packet tap, the queue and the muxing thread) is turned on and
off on command. Once video runs at full rate, windows alternate off, on, off, on, … (so
that drift in the machine's load hits both alike); the figure is the difference of the
medians. The server process's CPU counts all its threads, the muxer's included.

A run is INVALID (exit status 1) when the bots were the limit, a subscriber missed media
in a window, or the recording dropped packets or wrote nothing.

Run inside the loopback-only namespace (about a minute with the defaults)::

    bash scripts/netns-run .venv/bin/python -m benchmarks.recording_bench [--subscribers 50]
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

from benchmarks._peers import FanoutTimes, _offer
from benchmarks.fanout import (
    ROLES,
    SETTLED_KBPS,
    START_TIMEOUT,
    Bots,
    _terminate,
    measure,
    settle,
)
from benchmarks.fanout_report import NOISY, Window
from loadtest.procs import BenchError, Child, Message, plan_cores, serve_commands, spawn
from loadtest.rtc import LOOPBACK
from server.ids import ParticipantId, RoomId
from server.media.feed import PacketFeed
from server.media.ice import IcePolicy
from server.rooms.media import RoomMedia
from server.settings import MediaSettings

TARGET = 0.05  # cores: what recording may add


class RecordingRelay:
    """The room's media as the live server holds it, with recording on command."""

    def __init__(self, directory: Path) -> None:
        settings = MediaSettings(ice_addresses=LOOPBACK)
        self._media = RoomMedia(
            RoomId("bench"), IcePolicy.from_settings(settings), settings, lambda live, who: None
        )
        self._dir = directory
        self._times = FanoutTimes()
        self._files = 0
        self.last: dict[str, Any] = {}
        for feed in self._media.feeds.values():
            if isinstance(feed, PacketFeed):
                feed.on_fanout = self._times

    async def answer(self, who: str, name: str, sdp: str) -> str:
        return await self._media.answer(ParticipantId(who), name, sdp)  # type: ignore[arg-type]

    async def record(self, on: bool) -> Message:
        if on:
            self._files += 1
            path = self._dir / f"bench-{self._files}.webm"
            if self._media.start_recording(path) is None:
                live = {kind: feed.live for kind, feed in self._media.feeds.items()}
                raise BenchError(
                    f"recording did not start: the publisher is gone (feeds live {live},"
                    f" {self.stats()}): the machine was too loaded for this run"
                )
            return {"ok": True}
        stats = await self._media.stop_recording()
        self.last = stats.as_dict() if stats is not None else {}
        return {"ok": True, **self.last}

    def stats(self) -> Message:
        return dict(self._media.stats())

    def latency(self) -> Message:
        return self._times.take()

    async def close(self) -> None:
        await self._media.stop_recording()
        await self._media.close()


async def run_server(conn: Connection) -> None:
    with tempfile.TemporaryDirectory(prefix="salon-recording-bench-") as directory:
        room = RecordingRelay(Path(directory))

        async def handle(message: Message) -> Message:
            op = message.get("op")
            if op == "record":
                return await room.record(bool(message["on"]))
            if op == "latency":
                return {"ok": True, **room.latency()}
            return {"ok": True, **room.stats()}

        app = web.Application()
        app.router.add_post("/offer", functools.partial(_offer, room))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            conn.send({"ok": True, "port": runner.addresses[0][1]})
            await serve_commands(conn, handle)
        finally:
            await room.close()
            await runner.cleanup()


def muxer_cost(seconds: int = 10) -> tuple[float, float]:
    """CPU (cores) the recorder costs for ``seconds`` of a 640x480 VP8 + Opus feed, fed
    through its tap in one go: the queue, frame reassembly and muxing alone, in process
    CPU time (so other load on the machine does not change it). Encoding the test video
    beforehand is not counted. Returns (cores, the video's Mbit/s)."""
    import asyncio
    import fractions

    import av
    import numpy
    from aiortc.codecs.vpx import Vp8Encoder

    from server.media.recorder import WebmRecorder
    from server.media.rtp_rewrite import InPacket

    encoder = Vp8Encoder()
    packets: list[tuple[str, InPacket]] = []
    rng = numpy.random.default_rng(16)
    for index in range(30 * seconds):
        image = rng.integers(0, 255, (480, 640, 3), dtype=numpy.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = index * 3000, fractions.Fraction(1, 90_000)
        payloads, ts = encoder.encode(frame, force_keyframe=index == 0)
        for n, payload in enumerate(payloads):
            seq = len(packets) & 0xFFFF
            packets.append(("video", InPacket(seq, ts, int(n == len(payloads) - 1), payload)))
    packets += [("audio", InPacket(n, n * 960, 1, bytes(120))) for n in range(50 * seconds)]

    async def record() -> tuple[float, float]:
        with tempfile.TemporaryDirectory(prefix="salon-muxer-") as directory:
            recorder = WebmRecorder(Path(directory) / "m.webm", True, len(packets) + 1)
            taps = {"video": recorder.tap("video"), "audio": recorder.tap("audio")}
            started = time.process_time()
            recorder.start()
            for kind, packet in packets:
                taps[kind](packet)
            stats = await recorder.stop()
            if stats.failed or stats.video_frames != 30 * seconds:
                raise BenchError(f"the muxer did not write every frame: {stats}")
            cost = (time.process_time() - started) / seconds
            return cost, stats.bytes * 8 / 1e6 / seconds

    return asyncio.run(record())


def _problems(mode: str, window: Window) -> list[str]:
    found = []
    if window.bots_limited:
        cpu = " + ".join(f"{c:.0%}" for c in window.bot_cpu)
        found.append(f"recording {mode}: the bot processes used {cpu} of a core")
    starved = [
        s["who"] for s in window.subscribers if not s["video_frames"] or not s["audio_frames"]
    ]
    if starved:
        found.append(f"recording {mode}: {len(starved)} subscriber(s) got no media in a window")
    return found


def run(args: argparse.Namespace) -> int:
    server_cpus, bot_cpus, pinning = plan_cores()
    cores = (server_cpus, bot_cpus)
    children: list[Child] = []

    def start(child: Child) -> dict[str, Any]:
        children.append(child)
        return child.reply(START_TIMEOUT)

    windows: dict[str, list[Window]] = {"off": [], "on": []}
    recorded: list[dict[str, Any]] = []
    try:
        server = spawn("rec-server", "benchmarks.recording_bench:run_server", server_cpus)
        url = f"http://127.0.0.1:{start(server)['port']}/offer"
        publisher = spawn("rec-publisher", ROLES["publisher"], bot_cpus, url=url)
        start(publisher)
        procs = []
        for index in range(args.bot_procs):
            child = spawn(
                f"rec-subscribers-{index}",
                ROLES["subscribers"],
                bot_cpus,
                url=url,
                prefix=f"s{index}",
            )
            start(child)
            procs.append(child)
        subs = Bots(procs)
        subs.add(args.subscribers)
        server_process = psutil.Process(server.process.pid)
        server_cores = len(server_cpus) if server_cpus else os.cpu_count() or 1
        rates, settled = settle(
            lambda: [s["video_bytes"] for s in subs.snap()],
            server_process,
            server_cores,
            args.warmup,
            args.settle,
        )
        print(
            f"  N={args.subscribers}: video {settled} (slowest {min(rates):.0f} kbps)",
            file=sys.stderr,
            flush=True,
        )
        for _ in range(args.repeats):
            for mode in ("off", "on"):
                if mode == "on":
                    server.call("record", on=True)
                    time.sleep(1.0)  # the key frame asked for, the file opened
                window = measure(server_process, server, publisher, subs, args.seconds, cores)
                windows[mode].append(window)
                if mode == "on":
                    recorded.append(server.call("record", on=False))
                print(
                    f"  recording {mode:<3} server {window.server_cpu:6.1%} of a core,"
                    f" bots {' + '.join(f'{c:.0%}' for c in window.bot_cpu)}",
                    file=sys.stderr,
                    flush=True,
                )
                for child in children:
                    if not child.process.is_alive():
                        raise BenchError(f"{child.name} exited (status {child.process.exitcode})")
    finally:
        for child in reversed(children):
            child.stop()

    off = statistics.median(w.server_cpu for w in windows["off"])
    on = statistics.median(w.server_cpu for w in windows["on"])
    print(
        f"\nrecording cost: 1 publisher (640x480 VP8 + Opus) → {args.subscribers} subscribers;"
        f" {pinning}\nCPU = server process user+system (all threads), share of one core;"
        f" median of {args.repeats} × {args.seconds:g} s windows each, alternated\n"
    )
    print(f"  recording off  {off:7.1%}")
    print(f"  recording on   {on:7.1%}")
    print(f"  difference     {on - off:+7.1%} of a core (target ≤ {TARGET:.0%})")
    cost, mbps = muxer_cost()
    print(f"  recorder alone {cost:7.2%} at {mbps:.1f} Mbit/s (tap, queue, reassembly, mux)")
    for stats in recorded:
        size_mb = stats.get("bytes", 0) / 1e6
        seconds = stats.get("duration_ms", 0) / 1000
        print(
            f"  file: {stats.get('video_frames', 0)} video + {stats.get('audio_frames', 0)} audio"
            f" frames, {size_mb:.1f} MB, {seconds:.1f} s,"
            f" {stats.get('queue_dropped', 0)} packets dropped, failed={stats.get('failed')}"
        )
    problems = [p for mode, ws in windows.items() for w in ws for p in _problems(mode, w)]
    for stats in recorded:
        if stats.get("failed") or not stats.get("video_frames") or stats.get("queue_dropped"):
            problems.append(f"the recording dropped packets or wrote nothing: {stats}")
    noisy = max(w.foreign_load for ws in windows.values() for w in ws)
    if noisy > NOISY:
        print(f"warning: other processes took up to {noisy:.0%} of the server's core: noisy")
    for problem in problems:
        print(f"INVALID: {problem}")
    if problems:
        print("the run is INVALID")
        return 1
    print("within target" if on - off <= TARGET else "OVER TARGET")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recording_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subscribers", type=int, default=50, metavar="N")
    parser.add_argument("--bot-procs", type=int, default=4, metavar="K")
    parser.add_argument("--seconds", type=float, default=5.0, help="one window (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="windows per mode (default 3)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument(
        "--muxer-only", action="store_true", help="only the recorder's own cost, no peers"
    )
    args = parser.parse_args(argv)
    if args.muxer_only:
        cost, mbps = muxer_cost()
        print(f"recorder alone (tap, queue, reassembly, mux): {cost:.2%} of a core", end="")
        print(f" at {mbps:.1f} Mbit/s")
        return 0
    if args.subscribers < 1 or args.seconds <= 0 or min(args.repeats, args.bot_procs) < 1:
        print("recording_bench: N ≥ 1, --seconds > 0, --repeats and --bot-procs ≥ 1")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    print(f"(video is measured once it runs at ≥{SETTLED_KBPS:.0f} kbps)", file=sys.stderr)
    try:
        return run(args)
    except BenchError as exc:
        print(f"recording_bench: run failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
