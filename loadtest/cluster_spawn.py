"""``--spawn-cluster N``: a throw-away local cluster for a run, as ``make cluster`` starts it
(a Redis Cluster, N ``salon serve`` nodes, HAProxy round-robin in front).

The load tester speaks only the wire: a child Python process runs ``make cluster``'s start
and stop (``server.devtools.cluster.start``; as ``--spawn-server`` runs ``salon serve``),
the tester reads the URLs it prints and stops it with SIGINT. ``kill_node`` SIGKILLs one
node's process, found among the child's processes by its port, to measure how long
members take to be back.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import psutil

from loadtest.spawn import free_port

# Run in the child: ``make cluster``'s own start and stop (server/devtools/cluster.py),
# without its watch that stops everything when one child dies (a killed node is the point
# of ``--kill-node``). It prints each node's URL, then READY, and stops on SIGINT/SIGTERM.
DRIVER = """
import signal, sys, threading
from server.devtools.cluster import start
nodes, port = int(sys.argv[1]), int(sys.argv[2])
from os import environ
local = start(nodes, port, environ["SALON_SECRET"], environ["SALON_ADMIN_KEY"])
done = threading.Event()
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda *_: done.set())
try:
    for i, node_port in enumerate(local.node_ports):
        print(f"  node-{i}: http://127.0.0.1:{node_port}", flush=True)
    print("Ctrl-C stops everything.", flush=True)
    done.wait()
finally:
    local.stop()
"""
STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 40.0
READY = "Ctrl-C stops everything."
NODE_LINE = re.compile(r"^\s+(node-\d+): (http://127\.0\.0\.1:(\d+))(\s|$)")


@dataclass
class SpawnedCluster:
    url: str  # HAProxy's
    admin_key: str
    secret: str
    process: subprocess.Popen[bytes]
    nodes: dict[str, str] = field(default_factory=dict)  # node id -> its own URL
    output: list[str] = field(default_factory=list)

    def node_pid(self, node_id: str) -> int | None:
        port = self.nodes[node_id].rsplit(":", 1)[1]
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    line = child.cmdline()
                    if "serve" in line and "--port" in line and port in line:
                        return int(child.pid)
        return None

    def node_pids(self) -> list[int]:
        return [pid for node in self.nodes if (pid := self.node_pid(node)) is not None]

    def kill_node(self, node_id: str) -> bool:
        """SIGKILL ``node_id``'s process; False if it was not found."""
        pid = self.node_pid(node_id)
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def spawn_cluster(nodes: int) -> SpawnedCluster:
    """Start the cluster and wait until it prints its links."""
    port = free_port()
    secret, admin_key = secrets.token_hex(16), secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if not name.startswith("SALON_")}
    env |= {"SALON_SECRET": secret, "SALON_ADMIN_KEY": admin_key}
    command = [sys.executable, "-c", DRIVER, str(nodes), str(port)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    cluster = SpawnedCluster(f"http://127.0.0.1:{port}", admin_key, secret, process)
    assert process.stdout is not None
    fd = process.stdout.fileno()
    pending = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        # Raw reads (a buffered reader would keep lines that select() no longer sees).
        pending += os.read(fd, 65536)
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            cluster.output.append(line)
            if (found := NODE_LINE.match(line)) is not None:
                cluster.nodes[found.group(1)] = found.group(2)
            if line.strip() == READY:
                return cluster
    cluster.stop()
    tail = "\n".join(cluster.output[-20:])
    raise RuntimeError(f"the local cluster did not start:\n{tail}")
