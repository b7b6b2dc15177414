"""Chat, reactions and upvotes among 200 members in one room: delivery latency and server CPU.

Signaling only (no media). This module owns the orchestration and the report; the members
live in ``loadtest._chat_bots``. It starts a throw-away server and its Redis
(``loadtest.spawn``, pinned to one core when there are two or more), makes a room and its
members through the REST API (``loadtest.admin``), then one
process of bots (pinned to another core) connects every member over a WebSocket and
sends chat lines, reactions and upvotes at ``--rate`` messages per second in total, in
turn. For each message it measures the time from send to every recipient; the report
gives p50/p99 per kind, the server process's CPU (user + system) over the measured
window, and whether every delivery arrived.

Reactions are aggregated by the server (one update per room every
``interactions.flush_interval``), so their latency includes that wait by design; the
latency target (p99 under 50 ms) is for what is delivered one by one: chat and upvotes.

    python -m loadtest.chat_bench [--members 200] [--rate 200] [--duration 20]
    python -m loadtest.chat_bench --largest     # the largest room with chat p99 <= 50 ms
    python -m loadtest.chat_bench --scorer-process  # scoring in a `salon scorer` beside it
    python -m loadtest.chat_bench --write-window 0.002  # the server's signaling.write_window

The report also gives the server's socket writes over the measured window: how many
broadcast frames went out in how many coalesced writes (its ``/metrics``).

``--largest`` runs the same traffic in rooms of doubling size from ``--members`` until
chat p99 passes 50 ms (or deliveries go missing), then halves the gap twice, and prints
the largest room that stayed within it, with the server's and the bots' CPU for each
size (the bots share one process: when they near a full core they, not the server, are
the limit, and the table says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil

from loadtest._chat_bots import Plan, bots_main
from loadtest.admin import local_tokens, seed_room
from loadtest.spawn import SpawnedServer, spawn_server

ROOM = "bench"
TARGET_P99_MS = 50.0
READY_TIMEOUT = 120.0


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.chat_bench", description=__doc__)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second in all")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    parser.add_argument(
        "--mix", default="chat,reaction,upvote", help="kinds sent in turn (repeat to weigh)"
    )
    parser.add_argument("--msgpack", action="store_true", help="bots speak salon.v1.msgpack")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    parser.add_argument(
        "--scorer-process",
        action="store_true",
        help="the server's scorer off, one `salon scorer` process beside it (its CPU apart)",
    )
    parser.add_argument(
        "--largest", action="store_true", help="find the largest room with chat p99 <= 50 ms"
    )
    parser.add_argument("--max-members", type=int, default=3200, help="--largest stops here")
    parser.add_argument(
        "--write-window",
        type=float,
        default=None,
        help="the server's signaling.write_window in seconds (default: the server's own)",
    )
    args = parser.parse_args(argv)
    args.mix = tuple(k.strip() for k in args.mix.split(",") if k.strip())
    if not set(args.mix) <= {"chat", "reaction", "upvote"} or not args.mix:
        parser.error("--mix takes chat, reaction and upvote")
    return args


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _cores(pin: bool) -> tuple[list[int] | None, list[int] | None]:
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        return None, None
    return [cores[0]], [cores[1]]


@dataclass
class Bench:
    """What one run set up: the server (and its Redis), the members' tokens, the bots' core."""

    args: argparse.Namespace
    server: SpawnedServer
    tokens: list[str]
    questions: int
    bot_cpus: list[int] | None


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.largest:
        return _largest(args)
    code, members, result = _measure(args)
    if result is None:
        return code
    return _report(args, members, result)


def _largest(args: argparse.Namespace) -> int:
    """Rooms of doubling size, then bisection: the largest with chat p99 within target."""
    print(f"largest room with chat+upvote p99 <= {TARGET_P99_MS:.0f} ms at {args.rate:.0f} msg/s:")
    print(f"  {'members':>8}{'p50 ms':>9}{'p99 ms':>9}{'server':>8}{'bots':>7}{'other':>7}"
          "  verdict")  # fmt: skip
    good, bad = 0, 0
    size = args.members
    steps = 0
    while size and steps < 12:
        steps += 1
        code, _, result = _measure(argparse.Namespace(**{**vars(args), "members": size}))
        ok = result is not None and code == 0 and _within(result)
        if result is not None:
            direct = result["direct"]
            bots = " (bots near a full core)" if result["bot_cpu"] > 0.9 else ""
            print(
                f"  {size:>8}{direct['p50_ms']:>9.1f}{direct['p99_ms']:>9.1f}"
                f"{result['server_cpu'] * 100:>7.0f}%{result['bot_cpu'] * 100:>6.0f}%"
                f"{result['other_cpu'] * 100:>6.0f}%  {'ok' if ok else 'over'}{bots}",
                flush=True,
            )
        else:
            print(f"  {size:>8}  failed to run (code {code})", flush=True)
        if ok:
            good = size
        else:
            bad = size
        if not bad:
            size = size * 2 if size * 2 <= args.max_members else 0
        elif good and bad - good > max(25, good // 8):
            size = (good + bad) // 2
        else:
            size = 0
    if good:
        limit = f" (the next size tried, {bad}, was over)" if bad else " (the largest tried)"
        print(f"largest room with chat p99 <= {TARGET_P99_MS:.0f} ms: {good} members{limit}")
    else:
        print(f"no room size from {args.members} kept chat p99 <= {TARGET_P99_MS:.0f} ms")
    return 0 if good else 1


def _within(result: dict[str, Any]) -> bool:
    missing = sum(row["expected"] - row["deliveries"] for row in result["kinds"].values())
    direct_p99: float = result["direct"]["p99_ms"]
    return missing == 0 and not result["error_count"] and direct_p99 <= TARGET_P99_MS


def _measure(args: argparse.Namespace) -> tuple[int, int, dict[str, Any] | None]:
    server_cpus, bot_cpus = _cores(not args.no_pin)
    upvotes = args.rate * (args.warmup + args.duration) * args.mix.count("upvote") / len(args.mix)
    # Each member upvotes each question at most once (never their own): enough questions.
    questions = min(args.members, max(8, math.ceil(upvotes / (args.members - 1)) + 1))
    try:
        window = args.write_window
        server = spawn_server(
            frozenset(server_cpus) if server_cpus else None,
            rtp_ports=10,
            settings={"SALON_SIGNALING_WRITE_WINDOW": str(window)} if window is not None else None,
            scorer_process=args.scorer_process,
        )
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1, 0, None
    try:
        member_ids = [f"m{n:04d}" for n in range(args.members)]
        asyncio.run(seed_room(server.url, server.admin_key, ROOM, "Chat bench", member_ids, 10_000))
        tokens = local_tokens(server.secret, ROOM, member_ids, "member")
        return _run(Bench(args, server, tokens, questions, bot_cpus))
    finally:
        server.stop()


def _busy_cores() -> float:
    """Seconds of CPU the whole machine has spent busy (all cores, all processes)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _socket_writes(url: str) -> tuple[float, float]:
    """The server's coalesced frames and writes so far (0, 0 when it does not say)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0, 0.0
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("salon_ws_frames_coalesced_total", "salon_ws_writes_coalesced_total"):
            figures[name] = float(value)
    return (
        figures.get("salon_ws_frames_coalesced_total", 0.0),
        figures.get("salon_ws_writes_coalesced_total", 0.0),
    )


def _run(bench: Bench) -> tuple[int, int, dict[str, Any] | None]:
    args = bench.args
    server = psutil.Process(bench.server.pid)
    redis = psutil.Process(bench.server.redis.process.pid)
    spawned_scorer = bench.server.scorer
    scorer = psutil.Process(spawned_scorer.pid) if spawned_scorer is not None else None
    plan = Plan(
        url=f"{bench.server.url.replace('http', 'ws', 1)}/ws",
        room=ROOM,
        tokens=bench.tokens,
        rate=args.rate,
        warmup=args.warmup,
        duration=args.duration,
        mix=args.mix,
        questions=bench.questions,
        binary=args.msgpack,
    )
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    bots = ctx.Process(target=bots_main, args=(child, plan, bench.bot_cpus), daemon=True)
    bots.start()
    try:
        if not parent.poll(READY_TIMEOUT):
            print("the bots did not connect in time", file=sys.stderr)
            return 1, 0, None
        ready = parent.recv()
        if not ready.get("ok"):
            print(f"bots failed: {ready.get('error')}", file=sys.stderr)
            return 1, 0, None
        t0 = time.monotonic() + 1.0
        parent.send(t0)
        time.sleep(max(0.0, t0 + args.warmup - time.monotonic()))
        start = (_cpu_seconds(server), _cpu_seconds(redis), _busy_cores(), time.monotonic())
        scorer_start = _cpu_seconds(scorer) if scorer is not None else 0.0
        writes_start = _socket_writes(bench.server.url)
        time.sleep(max(0.0, t0 + args.warmup + args.duration - time.monotonic()))
        wall = time.monotonic() - start[3]
        writes_end = _socket_writes(bench.server.url)
        server_cpu = (_cpu_seconds(server) - start[0]) / wall
        redis_cpu = (_cpu_seconds(redis) - start[1]) / wall
        scorer_cpu = (_cpu_seconds(scorer) - scorer_start) / wall if scorer is not None else None
        machine = (_busy_cores() - start[2]) / wall
        if not parent.poll(args.duration + 60):
            print("the bots did not report", file=sys.stderr)
            return 1, 0, None
        result: dict[str, Any] = parent.recv()
    finally:
        bots.join(10)
        if bots.is_alive():
            bots.kill()
    if not result.get("ok"):
        print(f"bots failed: {result.get('error')}", file=sys.stderr)
        return 1, 0, None
    result["server_cpu"] = server_cpu
    result["coalesced_frames"] = writes_end[0] - writes_start[0]
    result["coalesced_writes"] = writes_end[1] - writes_start[1]
    result["redis_cpu"] = redis_cpu
    result["scorer_cpu"] = scorer_cpu
    result["bot_cpu"] = result["bot_cpu_seconds"] / args.duration
    # Whatever else ran meanwhile (other work on a shared machine skews the tail).
    known = server_cpu + redis_cpu + result["bot_cpu"] + (scorer_cpu or 0.0)
    result["other_cpu"] = max(0.0, machine - known)
    return 0, ready["members"], result


def _report(args: argparse.Namespace, members: int, result: dict[str, Any]) -> int:
    per_kind = args.rate / len(args.mix)
    mix = ", ".join(
        f"{kind} {per_kind * args.mix.count(kind):.0f}/s" for kind in dict.fromkeys(args.mix)
    )
    encoding = "msgpack" if args.msgpack else "JSON"
    print(
        f"chat_bench: {members} members in one room over WebSockets ({encoding}), "
        f"{args.rate:.0f} msg/s in all ({mix}), {args.duration:.0f} s measured "
        f"after {args.warmup:.0f} s warm-up"
    )
    print("delivery latency, send -> every recipient (ms):")
    print(f"  {'kind':<9}{'sent':>7}{'deliveries':>12}{'missing':>9}"
          f"{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")  # fmt: skip
    complete = True
    for kind in ("chat", "upvote", "reaction"):
        row = result["kinds"].get(kind)
        if row is None:
            continue
        missing = row["expected"] - row["deliveries"]
        complete = complete and missing == 0
        print(
            f"  {kind:<9}{row['sent']:>7}{row['deliveries']:>12}{missing:>9}"
            f"{row['p50_ms']:>8.1f}{row['p90_ms']:>8.1f}{row['p99_ms']:>8.1f}{row['max_ms']:>8.1f}"
        )
    direct = result["direct"]
    verdict = "met" if direct["p99_ms"] < TARGET_P99_MS else "NOT met"
    print(
        f"  chat+upvote (delivered one by one): p50 {direct['p50_ms']:.1f} ms, "
        f"p99 {direct['p99_ms']:.1f} ms over {direct['count']} deliveries: "
        f"target p99 < {TARGET_P99_MS:.0f} ms {verdict}"
    )
    if "reaction" in result["kinds"]:
        print(
            f"  reactions are aggregated: {result['reaction_updates']} updates reached each "
            "member; their latency includes the wait for the next update"
        )
    print(
        f"server CPU: {result['server_cpu'] * 100:.0f}% of one core (user+system); "
        f"bots {result['bot_cpu'] * 100:.0f}%, Redis {result['redis_cpu'] * 100:.0f}%, "
        f"other processes {result['other_cpu'] * 100:.0f}% ({psutil.cpu_count()} cores)"
    )
    frames, writes = result["coalesced_frames"], result["coalesced_writes"]
    if frames:
        print(
            f"socket writes: {frames:,.0f} broadcast frames in {writes:,.0f} coalesced writes "
            f"({frames / writes:.2f} frames a write; {writes / args.duration:,.0f} writes/s)"
        )
    if result["scorer_cpu"] is not None:
        print(
            f"scorer process CPU: {result['scorer_cpu'] * 100:.0f}% of one core (user+system; "
            "the server ran with engagement.scorer_enabled = false)"
        )
    if result["error_count"]:
        print(f"errors received: {result['error_count']}, e.g. {result['errors'][:3]}")
    if not complete:
        print("some deliveries are missing")
    if args.json:
        print(json.dumps(result, indent=2))
    return 0 if complete and not result["error_count"] else 1


if __name__ == "__main__":
    sys.exit(main())
