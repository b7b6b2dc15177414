"""``python -m loadtest run SCENARIO``: the load tester's command line.

Points the scenario at a server (``--url`` with ``--admin-key``, or ``--spawn-server``
for a throw-away local one), runs it with a live display, and writes ``report.json``
and ``report.html``. Ctrl-C (or SIGTERM) stops the bots cleanly and still writes the
report. Exit status: 0 when the run completed, 1 when it could not run or failed, 2 for
bad arguments, 130 after an interrupt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from pathlib import Path

from loadtest import coupon_rush, rooms
from loadtest import report as reporting
from loadtest.admin import AdminError, prepare
from loadtest.display import Display, summary_lines
from loadtest.plan import make_plan
from loadtest.procs import Cores, plan_cores
from loadtest.runner import Run, execute
from loadtest.scenario import ScenarioError, builtin, load
from loadtest.scrape import MetricsSampler
from loadtest.spawn import SpawnedServer, spawn_server
from loadtest.worker import raise_fd_limit


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="a built-in scenario name or a path to a TOML file")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the server's base URL, e.g. http://127.0.0.1:8080")
    target.add_argument(
        "--spawn-server",
        action="store_true",
        help="start a local `salon serve` and Redis for the run (pinned to one core)",
    )
    target.add_argument(
        "--spawn-cluster",
        type=int,
        metavar="N",
        help="rooms: start a local cluster (Redis Cluster, N nodes, HAProxy) for the run",
    )
    target.add_argument(
        "--compare",
        metavar="N,M",
        help="rooms: run against a local cluster of each node count (e.g. 1,2) and compare "
        "members and forwarded media per core",
    )
    parser.add_argument(
        "--admin-key", default=os.environ.get("SALON_ADMIN_KEY"), help="default: $SALON_ADMIN_KEY"
    )
    parser.add_argument(
        "--secret", help="the server's token secret: mint tokens locally instead of by the API"
    )
    parser.add_argument(
        "--redis-url", help="the server's Redis: check the report against its event stream"
    )
    parser.add_argument("--members", type=int, help="members who join (scenario's by default)")
    parser.add_argument("--rate", type=float, help="joins per second")
    parser.add_argument("--duration", type=float, help="seconds from the first join to the end")
    parser.add_argument("--report-dir", type=Path, help="default: reports/loadtest-NAME-TIME")
    parser.add_argument(
        "--bot-cpus", help="pin bot processes to these CPUs (comma-separated; --spawn-server: auto)"
    )
    parser.add_argument("--no-live", action="store_true", help="plain progress lines")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="--spawn-server: `salon serve --workers N` (N > 1: server and bots not pinned)",
    )
    parser.add_argument(
        "--spread", type=float, default=1.0, help="coupon_rush: seconds the claims spread over"
    )
    parser.add_argument("--rooms", type=int, default=20, help="rooms: rooms at once (20)")
    parser.add_argument(
        "--media-rooms", type=int, default=2, help="rooms: rooms whose host publishes (2)"
    )
    parser.add_argument(
        "--subscribers", type=int, default=3, help="rooms: media bots per media room (3)"
    )
    parser.add_argument(
        "--per-node",
        action="store_true",
        help="rooms --compare: N nodes get N x --rooms and --media-rooms (each node at the "
        "single node's load)",
    )
    parser.add_argument(
        "--kill-node",
        action="store_true",
        help="rooms (--spawn-cluster; --compare: its runs of 2+ nodes): SIGKILL a node"
        " half-way; time until members are back",
    )


def _cores(text: str | None) -> Cores:
    if not text:
        return None
    try:
        return frozenset(int(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"loadtest: --bot-cpus takes numbers like 1,2 (got {text!r})") from None


def list_scenarios() -> int:
    for scenario in builtin():
        print(f"{scenario.name:<14} {scenario.description}")
    return 0


def run_command(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        scenario = load(args.scenario).with_overrides(args.members, args.rate, args.duration)
    except ScenarioError as exc:
        print(f"loadtest: scenario: {exc}", file=sys.stderr)
        return 2
    if args.url and not args.admin_key:
        print("loadtest: --admin-key (or SALON_ADMIN_KEY) is needed with --url", file=sys.stderr)
        return 2
    if args.per_node and not args.compare:
        print("loadtest: --per-node goes with --compare", file=sys.stderr)
        return 2
    if scenario.name == "coupon_rush":
        return coupon_rush.run(args, scenario)
    if scenario.name == "rooms":
        return rooms.run(args, scenario)
    if args.spawn_cluster or args.compare:
        print("loadtest: --spawn-cluster and --compare run the rooms scenario only",
              file=sys.stderr)  # fmt: skip
        return 2
    raise_fd_limit()
    spawned: SpawnedServer | None = None
    server_cores: Cores = None
    bot_cores = _cores(args.bot_cpus)
    pinning = f"bots on CPU {args.bot_cpus}" if bot_cores else "not pinned"
    try:
        if args.spawn_server:
            server_cores, auto_bots, pinning = plan_cores()
            if args.workers > 1:  # the workers share every core
                server_cores, auto_bots = None, None
                pinning = f"not pinned (server --workers {args.workers})"
            bot_cores = bot_cores or auto_bots
            print("loadtest: starting a local server…", file=sys.stderr)
            spawned = spawn_server(server_cores, workers=args.workers)
        if bot_cores:
            os.sched_setaffinity(0, bot_cores)  # this process too stays off the server's core
        url = spawned.url if spawned else args.url
        admin_key = spawned.admin_key if spawned else args.admin_key
        secret = spawned.secret if spawned else args.secret
        print(
            f"loadtest: preparing room and {scenario.members.count} members on {url}…",
            file=sys.stderr,
        )
        cast = asyncio.run(prepare(url, admin_key, scenario, secret))
        run = Run(
            scenario,
            cast,
            make_plan(scenario, cast),
            url,
            bot_cores,
            redis_url=spawned.redis.url if spawned else args.redis_url,
            sampler=MetricsSampler(url),
            spawned=spawned is not None,
            pinning=pinning,
            server_pids=[*spawned.pids(), spawned.redis.process.pid] if spawned else [],
            server_cores=server_cores if spawned else None,
            command=shlex.join(["python", "-m", "loadtest", *argv]),
        )
        display = Display(live=False if args.no_live else None)
        asyncio.run(execute(run, display))
    except AdminError as exc:
        print(f"loadtest: setting up the room failed: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("loadtest: interrupted before the run started", file=sys.stderr)
        return 130
    finally:
        if spawned is not None:
            spawned.stop()
    report = reporting.build(run)
    directory = args.report_dir or Path("reports") / (
        f"loadtest-{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    json_path, html_path = reporting.write(report, directory)
    print("\n".join(summary_lines(report)))
    print(f"report: {json_path} and {html_path}")
    if run.failure:
        return 1
    return 130 if run.interrupted else 0
