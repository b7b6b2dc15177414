"""``make cluster``: a local Redis Cluster, N Salon nodes and HAProxy in front.

Starts six ``redis-server`` processes as a Redis Cluster (3 masters + 3 replicas), N
``salon serve`` nodes on their own ports and UDP port ranges, all on that cluster, and
Debian's ``haproxy`` on ``--port`` (default 8080) handing requests to the nodes in turn
and each room's WebSockets (``/ws?room=ID``) to the node its room id hashes to, with no
sticky sessions. It seeds the demo (as ``make run`` does), prints
the links through HAProxy, and stops everything on Ctrl-C (or when a child dies).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.devtools.dev import DEMO_ROOM, links, seed
from server.devtools.local_server import healthy, serve_command, serve_env
from server.devtools.redis_cluster import EmbeddedCluster, start_cluster
from server.devtools.redis_embed import free_port
from server.settings import load_settings

# Each node's UDP media ports: RTP_BASE + i * RTP_SPAN up to the next node's first port.
RTP_BASE = 42000
RTP_SPAN = 500
STARTUP_TIMEOUT = 60.0

HAPROXY_CONFIG = """global
    maxconn 4096
    # Read by ``start`` to wait until HAProxy itself sees every node up.
    stats socket {stats} mode 600 level user
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # A busy node's /healthz may take over a second; a dead node refuses at once anyway.
    timeout check 3s
    # A WebSocket is a tunnel once upgraded: kept as long as the room.
    timeout tunnel 12h
frontend salon
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    # A room's sockets (`/ws?room=ID`, as the room page and the load tester open them) all
    # go to one node, which then opens and owns the room: no relay hop. Consistent hashing
    # moves only a dead node's rooms. Requests without the parameter go round-robin.
    balance url_param room
    hash-type consistent
    option httpchk GET /healthz
    # A node that just died refuses connections: try another at once.
    retries 2
    option redispatch 1
{servers}
"""

CAVEATS = """\
What works across nodes today: every page and REST call through HAProxy, on any node;
members, tiers, rooms, bans and removals, coupons and points, the event stream and its
scorer (one consumer per node), webhooks, `salon nodes list/drain`.
Each live room is owned by one node (its lease); HAProxy sends a room's sockets to
that node (a hash of the room in the URL), and a socket that lands elsewhere is relayed
to the owner. The room's session lives in Redis: kill -9 a node and its rooms' pages
come back on another node within a few seconds (docs/cluster.md)."""


# Health checks each second, and a node whose port refuses a real connection is DOWN at
# once (``observe layer4``): a room's sockets hash to its owner, so after a kill -9 every
# page's reconnection would otherwise try the dead node until three checks had failed.
SERVER_OPTIONS = "check inter 1s fastinter 250ms observe layer4 error-limit 1 on-error mark-down"


def haproxy_config(port: int, node_ports: list[int], stats: Path) -> str:
    servers = "\n".join(
        f"    server node-{i} 127.0.0.1:{p} {SERVER_OPTIONS}" for i, p in enumerate(node_ports)
    )
    return HAPROXY_CONFIG.format(port=port, servers=servers, stats=stats)


def servers_up(stats: Path) -> int:
    """How many of the backend's nodes HAProxy has marked UP (0 while it cannot tell).

    Until then HAProxy sends a room's sockets to the nodes that are up, so the rooms opened
    meanwhile are owned by another node than the one their sockets hash to later."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1.0)
            sock.connect(str(stats))
            sock.sendall(b"show stat\n")
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    except OSError:
        return 0
    rows = csv.reader(raw.decode(errors="replace").lstrip("# ").splitlines())
    header = next(rows, [])
    if "status" not in header:
        return 0
    name, server, status = header.index("pxname"), header.index("svname"), header.index("status")
    return sum(
        1
        for row in rows
        if len(row) > status and row[name] == "nodes" and row[server].startswith("node-")
        and row[status] == "UP"
    )  # fmt: skip


def node_env(
    redis_url: str, secret: str, admin_key: str, node_id: str, node_port: int, public_url: str
) -> dict[str, str]:
    """A ``salon serve`` child's environment in cluster mode, as ``make cluster`` runs each
    node: rooms owned through leases, their state in Redis (benchmarks/idle.py too)."""
    env = serve_env(redis_url, secret, admin_key)
    env.update(
        SALON_NODE_ID=node_id,
        SALON_NODE_ADVERTISED_URL=f"http://127.0.0.1:{node_port}",
        SALON_SERVER_PUBLIC_URL=public_url,
        SALON_NODE_OWN_ROOMS="true",
        SALON_ROOMS_STATE="redis",
    )
    return env


def _salon() -> list[str]:
    exe = Path(sys.executable).with_name("salon")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli"]


@dataclass
class LocalCluster:
    """Everything ``make cluster`` started, stopped together by ``stop``."""

    redis: EmbeddedCluster
    workdir: Path
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    node_ports: list[int] = field(default_factory=list)
    haproxy: subprocess.Popen[bytes] | None = None

    def children(self) -> list[subprocess.Popen[bytes]]:
        return [*self.nodes, *([self.haproxy] if self.haproxy else [])]

    def stop(self) -> None:
        for child in self.children():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(
    count: int, port: int, secret: str, admin_key: str, extra_env: dict[str, str] | None = None
) -> LocalCluster:
    """Start the Redis Cluster, ``count`` nodes (in cluster mode: rooms owned through
    leases, their state in Redis; ``extra_env`` on top) and HAProxy on ``port``; wait until
    every node answers ``/healthz``."""
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if haproxy is None:
        raise RuntimeError("haproxy is not installed: `make cluster` installs Debian's haproxy")
    local = LocalCluster(start_cluster(), Path(tempfile.mkdtemp(prefix="salon-nodes-")))
    try:
        public = f"http://127.0.0.1:{port}"
        for i in range(count):
            node_port = free_port()
            low = RTP_BASE + i * RTP_SPAN
            env = node_env(local.redis.url, secret, admin_key, f"node-{i}", node_port, public)
            env.update(
                SALON_REDIS_WAIT_REPLICAS="1",
                # One root for the nodes of this machine (each in an instance directory of
                # its own): a live node adopts the events a killed one left there.
                SALON_ENGAGEMENT_SPILL_DIR=str(local.workdir / "spill"),
                **(extra_env or {}),
            )
            log = open(local.workdir / f"node-{i}.log", "wb")  # noqa: SIM115 (the child's)
            command = serve_command(_salon(), node_port, local.redis.url, (low, low + RTP_SPAN - 1))
            local.nodes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            local.node_ports.append(node_port)
        config, stats = local.workdir / "haproxy.cfg", local.workdir / "haproxy.sock"
        config.write_text(haproxy_config(port, local.node_ports, stats))
        local.haproxy = subprocess.Popen(
            [haproxy, "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=open(local.workdir / "haproxy.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for i, node_port in enumerate(local.node_ports):
            while not healthy(f"http://127.0.0.1:{node_port}"):
                if local.nodes[i].poll() is not None or time.monotonic() > deadline:
                    tail = (local.workdir / f"node-{i}.log").read_text(errors="replace")
                    raise RuntimeError(f"node-{i} did not start:\n{tail[-2000:]}")
                time.sleep(0.2)
        while not healthy(public) or servers_up(stats) < count:
            if local.haproxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start (see its log in the work folder)")
            time.sleep(0.2)
    except BaseException:
        local.stop()
        raise
    return local


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2, help="Salon nodes (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="HAProxy's port (default 8080)")
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 16:
        print("make cluster: --nodes must be from 1 to 16", file=sys.stderr)
        return 2
    secret = os.environ.get("SALON_SECRET") or secrets.token_urlsafe(32)
    admin_key = os.environ.get("SALON_ADMIN_KEY") or secrets.token_urlsafe(24)
    # ``kill`` (SIGTERM) stops everything too, as Ctrl-C does: without this the nodes,
    # Redis and HAProxy outlived their parent.
    signal.signal(signal.SIGTERM, _interrupt)
    local = start(args.nodes, args.port, secret, admin_key)
    try:
        settings = load_settings(
            env={},
            overrides={
                "redis.url": local.redis.url,
                "auth.secret": secret,
                "auth.admin_key": admin_key,
                "server.public_url": f"http://127.0.0.1:{args.port}",
            },
        )
        asyncio.run(seed(settings))
        print(f"Redis Cluster: {local.redis.url} (3 masters + 3 replicas)")
        for i, node_port in enumerate(local.node_ports):
            low = RTP_BASE + i * RTP_SPAN
            print(f"  node-{i}: http://127.0.0.1:{node_port}  UDP {low}-{low + RTP_SPAN - 1}")
        print(
            f"HAProxy (a room's sockets to one node, else round-robin): http://127.0.0.1:{args.port}"
        )
        print(f"Admin key for the REST API: {admin_key}")
        print(
            "For `.venv/bin/salon` in another shell (e.g. `salon nodes list`): "
            f"export SALON_SECRET={secret} SALON_REDIS_URL={local.redis.url}"
        )
        print(CAVEATS)
        print(f"Room '{DEMO_ROOM}' admits core and active members (and invited eve). Links:")
        print("\n".join(links(settings)))
        print("Ctrl-C stops everything.", flush=True)
        while all(child.poll() is None for child in local.children()):
            time.sleep(0.5)
        print("make cluster: a child stopped; stopping everything", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        local.stop()


if __name__ == "__main__":
    sys.exit(main())
