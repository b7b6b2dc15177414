"""Server CPU per subscriber and latency: Salon's packet path, its frame path, aiortc's
transcoding relay and Janus, in one run.

This module owns the benchmark's orchestration (its table is in ``fanout_report``);
the processes it drives live in ``benchmarks._peers`` (an in-process benchmark: the server
process runs ``RoomMedia`` itself) and ``benchmarks.janus_server`` (Debian's Janus, its
VideoRoom plugin, driven over its HTTP API by ``benchmarks.janus_api``); the client side
(peers, synthetic tracks, processes) is ``loadtest``'s. For each relay ("packets" and
"frames": ``RoomMedia`` with ``media.forwarding`` so set; "transcode":
``aiortc.contrib.media.MediaRelay``, measured at small N only (``--transcode``, default
0 2 4: it encodes per subscriber and saturates a core at ~5-7); "janus") it starts a
server process (pinned to one core; for Janus the ``janus`` process is measured), one
publisher and ``--bot-procs`` processes of subscriber bots (on the other cores) that
count RTP packets and complete frames without a jitter buffer or decoder. Subscribers
join ``_peers.JOIN_BATCH`` at a time per process, one process at a time. On the packet
path the server also times every packet's fan-out (handler entry to each subscriber's
``sendto``): p50/p95/p99 per N. For every relay the end-to-end video latency (the
publisher's frame capture to a subscriber's complete frame, one CLOCK_MONOTONIC for all
processes) is reported as p50/p95 per N. For each subscriber count N it waits until
video runs at full bitrate (aiortc's encoders ramp up over ~10 s, and forwarding costs
CPU per packet), then measures the server process's CPU (user + system, all its threads)
over a few windows and takes the median. Per subscriber::

    (CPU with N - CPU with 0) / N

and the ratios frames / packets, transcode / packets and janus / packets. Every
subscriber must receive video and audio frames in every window, the bots' cores must not
be saturated, and every N must be reached, or the run is INVALID (exit status 1); a
relay that fails at some N is still reported for the N below it.

Run inside the loopback-only namespace (about 12 minutes with the defaults)::

    bash scripts/netns-run .venv/bin/python -m benchmarks.fanout [--subscribers 0 5 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
from aiortc.codecs.vpx import MAX_BITRATE

from benchmarks._peers import JOIN_ATTEMPTS, JOIN_BATCH
from benchmarks.fanout_report import (
    NOISY,
    RELAYS,
    SATURATED,
    Config,
    Window,
    e2e_percentiles,
    floor_table,
    packet_rate,
    report,
)
from benchmarks.send_floor import measure_floor, print_floor
from loadtest.procs import BenchError, Child, plan_cores, spawn

# The processes this benchmark starts: "module:coroutine function" (``loadtest.procs``).
ROLES = {
    "server": "benchmarks._peers:run_server",
    "janus": "benchmarks.janus_server:run_server",
    "publisher": "benchmarks._peers:run_publisher",
    "subscribers": "benchmarks._peers:run_subscribers",
}

START_TIMEOUT = 30.0
ADD_TIMEOUT = 70.0  # per batch of joins and attempt: the offer (45 s) + first frame (20 s)
# aiortc's VP8 encoders start at 500 kbps and climb to MAX_BITRATE over ~10 s as REMB
# allows; CPU per packet is what forwarding costs, so measure only once every stream
# carries (nearly) the full rate.
SETTLED_KBPS = 0.85 * MAX_BITRATE / 1000
SETTLE_HOLD = 2  # consecutive one-second readings at that rate
# The floor's run (``benchmarks.send_floor``): packets of the mean size forwarded.
FLOOR_SECONDS, FLOOR_REPEATS = 4.0, 5
FLOOR_MIN_SIZE, FLOOR_MAX_SIZE = 100, 1400


# --- measurement ------------------------------------------------------------------------


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _busy_times(cpus: frozenset[int] | None) -> tuple[float, float]:
    """Busy and total CPU seconds so far, summed over ``cpus`` (all cores if None)."""
    per_cpu = psutil.cpu_times(percpu=True)
    chosen = [per_cpu[i] for i in sorted(cpus)] if cpus else per_cpu
    total = sum(sum(t) - getattr(t, "guest", 0) - getattr(t, "guest_nice", 0) for t in chosen)
    idle = sum(t.idle + getattr(t, "iowait", 0) for t in chosen)
    return total - idle, total


def _share(before: tuple[float, float], after: tuple[float, float], cores: int) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * cores if total > 0 else 0.0


class Bots:
    """Subscriber bots spread over several processes, addressed as one."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self._counts = [0] * len(children)
        self._retried = [0] * len(children)

    def add(self, count: int) -> None:
        more = [0] * len(self.children)
        for _ in range(count):  # fill the emptiest process first
            index = self._counts.index(min(self._counts))
            self._counts[index] += 1
            more[index] += 1
        for index, (child, extra) in enumerate(zip(self.children, more, strict=True)):
            if extra:  # one process at a time: one batch of handshakes at once
                timeout = ADD_TIMEOUT * JOIN_ATTEMPTS * -(-extra // JOIN_BATCH)
                self._retried[index] = child.call("add", timeout, count=extra)["retried"]

    @property
    def retried(self) -> int:
        """Joins that got no video on their first connection and were made again."""
        return sum(self._retried)

    def snap(self) -> list[dict[str, Any]]:
        return [s for child in self.children for s in child.call("snap")["subscribers"]]


def measure(
    server: psutil.Process,
    server_child: Child,
    publisher: Child,
    subs: Bots,
    seconds: float,
    cores: tuple[frozenset[int] | None, frozenset[int] | None],
) -> Window:
    server_child.call("latency")  # starts the window's latency samples afresh
    for child in subs.children:  # and the end-to-end ones
        child.call("arrivals", drop=True)
    bots = [psutil.Process(child.process.pid) for child in subs.children]
    bots0 = [_cpu_seconds(p) for p in bots]
    before = subs.snap()
    pub0 = publisher.call("stats")
    out0 = server_child.call("stats").get("packets_out", 0)
    busy0 = [_busy_times(c) for c in cores]
    cpu0, t0 = _cpu_seconds(server), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = _cpu_seconds(server), time.monotonic()
    bots1 = [_cpu_seconds(p) for p in bots]
    busy1 = [_busy_times(c) for c in cores]
    pub1 = publisher.call("stats")
    out1 = server_child.call("stats").get("packets_out", 0)
    after = subs.snap()
    latency = server_child.call("latency")
    latency.pop("ok", None)
    sent = [tuple(s) for s in publisher.call("stamps")["stamps"]]
    arrivals = [a for child in subs.children for a in child.call("arrivals")["arrivals"]]
    e2e = e2e_percentiles(sent, [[tuple(x) for x in frames] for frames in arrivals])
    elapsed = t1 - t0
    deltas = []
    for old, new in zip(before, after, strict=True):
        delta: dict[str, Any] = {
            "who": new["who"],
            "state": new["state"],
            "decoded": new["decoded"],
        }
        for key in ("video_frames", "video_bytes", "video_packets", "audio_frames", "audio_bytes"):
            delta[key] = new[key] - old[key]
        deltas.append(delta)
    counts = [len(c) if c else psutil.cpu_count() or 1 for c in cores]
    return Window(
        elapsed,
        (cpu1 - cpu0) / elapsed,
        (pub1["video_frames"] - pub0["video_frames"]) / elapsed,
        (pub1["video_bytes"] - pub0["video_bytes"]) * 8 / 1000 / elapsed,
        deltas,
        _share(busy0[0], busy1[0], counts[0]),
        _share(busy0[1], busy1[1], counts[1]),
        counts[1],
        latency,
        [(b - a) / elapsed for a, b in zip(bots0, bots1, strict=True)],
        e2e,
        (out1 - out0) / elapsed,
    )


def settle(
    read: Callable[[], list[int]],
    server: psutil.Process,
    server_cores: int,
    minimum: float,
    maximum: float,
) -> tuple[list[float], str]:
    """Wait until every stream in ``read()`` (cumulative bytes) runs at ``SETTLED_KBPS``.

    Waits at least ``minimum`` and at most ``maximum`` seconds, less when the server is
    saturated (its encoders then never reach full rate). Returns the last rates and why
    it stopped waiting: ``settled``, ``saturated`` or ``timeout``.
    """
    started = time.monotonic()
    last, cpu_last, t_last = read(), _cpu_seconds(server), started
    held = busy = 0
    rates = [0.0]
    while time.monotonic() - started < maximum:
        time.sleep(1.0)
        now, cpu_now, t_now = read(), _cpu_seconds(server), time.monotonic()
        rates = [(b - a) * 8 / 1000 / (t_now - t_last) for a, b in zip(last, now, strict=True)]
        cpu = (cpu_now - cpu_last) / (t_now - t_last)
        last, cpu_last, t_last = now, cpu_now, t_now
        held = held + 1 if min(rates) >= SETTLED_KBPS else 0
        busy = busy + 1 if cpu >= SATURATED * server_cores else 0
        if t_now - started >= minimum:
            if held >= SETTLE_HOLD:
                return rates, "settled"
            if busy >= 3:
                return rates, "saturated"
    return rates, "timeout"


def run_relay(
    relay: str,
    counts: list[int],
    args: argparse.Namespace,
    cores: tuple[frozenset[int] | None, frozenset[int] | None],
    failures: list[str],
) -> list[Config]:
    """Measure ``relay`` at each count; a count that cannot be reached or measured
    (subscribers that get no video, a process that dies) ends this relay's run: it is
    added to ``failures`` (the run is INVALID) and the other relays are still measured."""
    children: list[Child] = []
    results: list[Config] = []
    current = 0

    def start(child: Child) -> dict[str, Any]:
        children.append(child)
        return child.reply(START_TIMEOUT)

    try:
        janus = relay == "janus"
        role, options = (ROLES["janus"], {}) if janus else (ROLES["server"], {"relay": relay})
        server = spawn(f"{relay}-server", role, cores[0], **options)
        started = start(server)
        url = started["url"] if janus else f"http://127.0.0.1:{started['port']}/offer"
        publisher = spawn(f"{relay}-publisher", ROLES["publisher"], cores[1], url=url, janus=janus)
        start(publisher)
        procs = []
        for index in range(args.bot_procs):
            child = spawn(
                f"{relay}-subscribers-{index}",
                ROLES["subscribers"],
                cores[1],
                url=url,
                prefix=f"s{index}",
                janus=janus,
            )
            start(child)
            procs.append(child)
        subs = Bots(procs)
        # Janus's own process, not the Python role that started it, is the relay measured.
        server_process = psutil.Process(started.get("pid", server.process.pid))
        server_cores = len(cores[0]) if cores[0] else os.cpu_count() or 1
        connected = 0
        for count in counts:
            current = count
            if count > connected:
                try:
                    subs.add(count - connected)
                except BenchError as exc:
                    state = publisher.call("stats")
                    raise BenchError(
                        f"{exc} (publisher connection {state['state']},"
                        f" {state['video_frames']} video frames sent)"
                    ) from None
                connected = count

            def read(count: int = count) -> list[int]:
                if count == 0:
                    return [publisher.call("stats")["video_bytes"]]
                return [s["video_bytes"] for s in subs.snap()]

            config = Config(relay, count)
            rates, config.settle = settle(
                read, server_process, server_cores, args.warmup, args.settle
            )
            if config.settle != "settled":
                print(
                    f"  {relay} N={count}: video below {SETTLED_KBPS:.0f} kbps"
                    f" ({config.settle}; slowest {min(rates):.0f} kbps); measuring anyway",
                    file=sys.stderr,
                    flush=True,
                )
            for _ in range(args.repeats):
                config.windows.append(
                    measure(server_process, server, publisher, subs, args.seconds, cores)
                )
                for child in children:  # a dead server would read as an idle one
                    if not child.process.is_alive():
                        raise BenchError(f"{child.name} exited (status {child.process.exitcode})")
            results.append(config)
            fps = statistics.median(config.per_sub("video_frames") or [0.0])
            p95 = config.latency("p95_us")
            e2e = config.e2e("p50_ms")
            print(
                f"  {relay:<9} N={count:<3} server {config.cpu:6.1%} of a core"
                + (f", {fps:4.1f} video fps per subscriber" if count else "")
                + (f", added p95 {p95:.0f} µs" if p95 is not None else "")
                + (f", end-to-end p50 {e2e:.1f} ms" if e2e is not None else "")
                + (f", {subs.retried} join(s) retried so far" if subs.retried else ""),
                file=sys.stderr,
                flush=True,
            )
    except BenchError as exc:
        failures.append(f"{relay} N={current}: {exc}")
        print(f"  {relay} N={current}: FAILED: {exc}", file=sys.stderr, flush=True)
    finally:
        for child in reversed(children):
            child.stop()
    return results


# --- entry point ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        nargs="+",
        default=[0, 10, 50, 100],
        metavar="N",
        help="subscriber counts to measure (0 is always added; default 0 10 50 100)",
    )
    parser.add_argument(
        "--frames-max",
        type=int,
        default=50,
        metavar="N",
        help="skip frame-path counts above N (default 50: it saturates a core before 100)",
    )
    parser.add_argument(
        "--bot-procs",
        type=int,
        default=4,
        metavar="K",
        help="processes the subscriber bots are spread over (default 4)",
    )
    parser.add_argument(
        "--transcode",
        type=int,
        nargs="+",
        default=[0, 2, 4],
        metavar="N",
        help="subscriber counts for MediaRelay, which encodes per subscriber and saturates"
        " a core at ~5-7 (default 0 2 4)",
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="length of one measurement window (default 5)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="windows per configuration; medians are reported (default 3)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole run with fresh processes; windows are pooled (default 1)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="minimum seconds to settle before measuring (default 3)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=20.0,
        help="maximum seconds to wait for video to reach full bitrate"
        " before measuring anyway (default 20)",
    )
    parser.add_argument("--relays", nargs="+", choices=RELAYS, default=list(RELAYS))
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip measuring the floor (one protect + one sendto a packet) after the relays",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    return parser


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_relay's cleanup


def collect(
    args: argparse.Namespace,
    cores: tuple[frozenset[int] | None, frozenset[int] | None],
    failures: list[str],
) -> dict[str, list[Config]]:
    """Measure every relay, ``--rounds`` times over with fresh processes, windows pooled."""
    counts = sorted({0, *args.subscribers})
    merged: dict[str, dict[int, Config]] = {relay: {} for relay in args.relays}
    for round_ in range(args.rounds):
        for relay in args.relays:  # interleaved, so slow drift in load hits both relays
            if relay == "transcode":
                wanted = sorted({0, *args.transcode})
            else:
                cap = args.frames_max if relay == "frames" else None
                wanted = [n for n in counts if cap is None or n <= cap]
            print(
                f"round {round_ + 1}/{args.rounds}: measuring {relay}"
                f" ({', '.join(map(str, wanted))} subscribers)…",
                file=sys.stderr,
                flush=True,
            )
            for config in run_relay(relay, wanted, args, cores, failures):
                pooled = merged[relay].setdefault(config.subscribers, config)
                if pooled is not config:
                    pooled.windows += config.windows
                    if config.settle != "settled":
                        pooled.settle = config.settle
    return {relay: list(by_count.values()) for relay, by_count in merged.items() if by_count}


def write_json(path: Path, args: argparse.Namespace, pinning: str, body: dict[str, Any]) -> None:
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    document = {"settings": settings, "pinning": pinning, "load_average": os.getloadavg()}
    path.write_text(json.dumps({**document, **body}, indent=2, ensure_ascii=False))


def floor_section(
    results: dict[str, list[Config]],
    summary: dict[str, Any],
    cores: tuple[frozenset[int] | None, frozenset[int] | None],
    seconds: float = FLOOR_SECONDS,
    repeats: int = FLOOR_REPEATS,
) -> dict[str, Any] | None:
    """Measure the floor on the same cores at the packet path's rate and packet size, and
    print the targets against it."""
    found = packet_rate(results["packets"])
    if found is None:
        return None
    rate, size = found
    subscribers = max(c.subscribers for c in results["packets"])
    size = max(FLOOR_MIN_SIZE, min(FLOOR_MAX_SIZE, round(size)))
    print("measuring the floor (one protect + one sendto a packet)…", file=sys.stderr, flush=True)
    floor = measure_floor(subscribers, size, rate, seconds, repeats, cores)
    print()
    print_floor(floor, subscribers, size, rate)
    return {
        "send_us": floor.send_us,
        "protect_us": floor.protect_us,
        "python_us": floor.total_us,
        **floor_table(floor.c_us, rate, summary["fitted_slope"]),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (
        min(args.subscribers) < 0
        or args.seconds <= 0
        or min(args.repeats, args.rounds, args.bot_procs) < 1
    ):
        print(
            "fanout: counts ≥ 0, --seconds > 0, --repeats, --rounds and --bot-procs ≥ 1",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    server_cpus, bot_cpus, pinning = plan_cores()
    server_cores = len(server_cpus) if server_cpus else os.cpu_count() or 1
    started = time.monotonic()
    failures: list[str] = []
    try:
        results = collect(args, (server_cpus, bot_cpus), failures)
    except BenchError as exc:
        print(f"fanout: run failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fanout: interrupted", file=sys.stderr)
        return 130
    windows = args.repeats * args.rounds
    print(
        f"\nfan-out: 1 publisher (640x480 VP8 ~30 fps + Opus) → N subscribers; {pinning}\n"
        f"CPU = server process user+system, share of one core; median of {windows}"
        f" × {args.seconds:g} s windows ({args.rounds} round(s)), once video runs at"
        f" ≥{SETTLED_KBPS:.0f} kbps; per sub = (CPU(N) − CPU(0)) / N; µs/pkt = per sub over\n"
        "the packets a second the server sent one subscriber (Janus: what one received):\n"
        "comparable across machines and loads where the publisher's rate differs;\n"
        "other = CPU other processes took on the server's core; bots = busy share of the"
        " bots' core (anyone's); bot CPU = the bot processes' own CPU\n"
    )
    summary = report(results, server_cores)
    if not args.no_floor and "packets" in results:
        summary["floor"] = floor_section(results, summary, (server_cpus, bot_cpus))
    problems = [p for configs in results.values() for c in configs for p in c.problems()]
    problems += [
        f"{failure} (this point and the relay's larger N not measured)" for failure in failures
    ]
    print(f"\ntotal run time {time.monotonic() - started:.0f} s")
    if any(c.decoded for cs in results.values() for c in cs):
        print("warning: some subscriber bots decoded frames (pass-through not in effect)")
    noisy = [
        f"{c.relay} N={c.subscribers}"
        for cs in results.values()
        for c in cs
        if statistics.median(w.foreign_load for w in c.windows) > NOISY
    ]
    if noisy:
        print(
            f"warning: other processes used >{NOISY:.0%} of the server's core in "
            f"{', '.join(noisy)}: those figures are noisy, rerun on a quieter machine"
        )
    for problem in problems:
        print(f"INVALID: {problem}")
    if problems:
        print(
            "the run is INVALID: media did not reach every subscriber, or the bots were the limit"
        )
    if args.json:
        configs = [asdict(c) for cs in results.values() for c in cs]
        write_json(args.json, args, pinning, {"configs": configs, **summary, "valid": not problems})
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
