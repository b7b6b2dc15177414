"""What a Salon node costs while it does nothing (issue 11: two nodes pay it twice).

``python -m benchmarks.idle [--windows 5] [--seconds 6] [--settle 10]`` starts, for each
set-up, a real Redis and one ``salon serve`` node on it, in cluster mode as ``make cluster``
runs each node (rooms owned through leases, room state in Redis):

- ``cluster``: a Redis Cluster (6 ``redis-server``, 3 masters + 3 replicas), as
  ``make cluster`` starts it;
- ``redis``: one plain ``redis-server``;
- ``plain`` (with ``--setups``): one ``redis-server`` and a node on the default settings
  (``make run``'s single node, room state in memory).

No client connects. After ``--settle`` seconds it reads the node process's CPU time (all
threads, from /proc) over ``--windows`` windows of ``--seconds`` each and prints the median
cores, the median wake-ups a second (voluntary context switches summed over the node's
threads: each is a sleep that ended) and the Redis processes' CPU in the same windows
(what the node's idle commands cost Redis). It prints figures; it asserts nothing.

The node runs this checkout's code (``python -m server.cli`` with this checkout first on
``PYTHONPATH``), not whatever an installed ``salon`` script would import.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from server.devtools.cluster import node_env
from server.devtools.local_server import healthy, serve_command, serve_env
from server.devtools.redis_cluster import start_cluster
from server.devtools.redis_embed import free_port, start_redis

ROOT = Path(__file__).resolve().parent.parent
SETUPS = ("cluster", "redis", "plain")
RTP_PORTS = (44000, 44099)
STARTUP_TIMEOUT = 60.0


@dataclass
class Figures:
    cores: list[float]
    wakeups: list[float]
    redis_cores: list[float]


def threads_switches(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` so far (0 once it is gone)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
    return total


def cpu_seconds(processes: list[psutil.Process]) -> float:
    used = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used += times.user + times.system
    return used


def measure(node: int, redis: list[int], windows: int, seconds: float) -> Figures:
    process, servers = psutil.Process(node), [psutil.Process(pid) for pid in redis]
    figures = Figures([], [], [])
    for _ in range(windows):
        start, switches = time.monotonic(), threads_switches(node)
        cpu, redis_cpu = cpu_seconds([process]), cpu_seconds(servers)
        time.sleep(seconds)
        elapsed = time.monotonic() - start
        figures.cores.append((cpu_seconds([process]) - cpu) / elapsed)
        figures.wakeups.append((threads_switches(node) - switches) / elapsed)
        figures.redis_cores.append((cpu_seconds(servers) - redis_cpu) / elapsed)
    return figures


@contextlib.contextmanager
def redis_for(setup: str) -> Iterator[tuple[str, list[int]]]:
    """(URL, redis-server pids) of a fresh Redis for ``setup``."""
    if setup == "cluster":
        with start_cluster() as cluster:
            yield cluster.url, [p.pid for p in cluster.processes.values()]
    else:
        with start_redis() as server:
            yield server.url, [server.process.pid]


@contextlib.contextmanager
def node_on(setup: str, redis_url: str) -> Iterator[int]:
    """One ``salon serve`` of this checkout on ``redis_url``; yields its pid once healthy."""
    secret, admin_key = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    port, workdir = free_port(), Path(tempfile.mkdtemp(prefix="salon-idle-"))
    base = f"http://127.0.0.1:{port}"
    if setup == "plain":
        env = serve_env(redis_url, secret, admin_key)
    else:
        env = node_env(redis_url, secret, admin_key, "node-0", port, base)
        if setup == "cluster":
            env["SALON_REDIS_WAIT_REPLICAS"] = "1"
    env["SALON_ENGAGEMENT_SPILL_DIR"] = str(workdir / "spill")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = serve_command([sys.executable, "-m", "server.cli"], port, redis_url, RTP_PORTS)
    with open(workdir / "node.log", "wb") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(base):
            if child.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the {setup} node did not start:\n{tail}")
            time.sleep(0.2)
        yield child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def run(setup: str, windows: int, seconds: float, settle: float) -> Figures:
    with redis_for(setup) as (url, redis_pids), node_on(setup, url) as pid:
        time.sleep(settle)
        return measure(pid, redis_pids, windows, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle", description=__doc__)
    parser.add_argument("--setups", default="cluster,redis", help="of cluster, redis, plain")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="each window's length")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before measuring")
    args = parser.parse_args(argv)
    setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    if unknown := [name for name in setups if name not in SETUPS]:
        parser.error(f"unknown set-up {', '.join(unknown)} (of {', '.join(SETUPS)})")
    print(f"{args.windows} x {args.seconds:g} s after {args.settle:g} s, one idle node each")
    header = ("set-up", "node cores", "(min-max)", "wake-ups/s", "redis cores")
    print("{:<8} {:>10} {:>15} {:>10} {:>11}".format(*header))
    for setup in setups:
        figures = run(setup, args.windows, args.seconds, args.settle)
        low, high = min(figures.cores), max(figures.cores)
        print(
            f"{setup:<8} {statistics.median(figures.cores):>10.4f} "
            f"{f'({low:.4f}-{high:.4f})':>15} {statistics.median(figures.wakeups):>10.0f} "
            f"{statistics.median(figures.redis_cores):>11.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
