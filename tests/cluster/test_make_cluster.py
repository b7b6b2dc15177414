"""``make cluster``'s machinery (server/devtools/cluster.py): a Redis Cluster, two Salon
nodes and Debian's HAProxy round-robin; both nodes register, pages and REST calls work
through HAProxy, and stopping ends every child process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import urllib.request

import psutil
import pytest

from server.cluster.registry import NodeRegistry
from server.devtools.cluster import LocalCluster, start
from server.devtools.dev import DEMO_ROOM, seed
from server.devtools.redis_embed import free_port
from server.redis_client import connect
from server.settings import load_settings

SECRET = "make-cluster-test-secret-0123456789"
ADMIN = "make-cluster-admin"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status), bytes(response.read())


@pytest.mark.timeout(180)
async def test_two_nodes_behind_haproxy_register_serve_and_leave() -> None:
    port = free_port()
    local: LocalCluster = await asyncio.to_thread(start, 2, port, SECRET, ADMIN)
    redis = connect(local.redis.url, 5.0)
    try:
        settings = load_settings(
            env={}, overrides={"redis.url": local.redis.url, "auth.secret": SECRET}
        )
        await seed(settings)
        registry = NodeRegistry(redis, settings.node.ttl)
        nodes = await registry.nodes()
        assert sorted(n.node_id for n in nodes) == ["node-0", "node-1"]
        assert sorted(n.url for n in nodes) == sorted(
            f"http://127.0.0.1:{p}" for p in local.node_ports
        )
        base = f"http://127.0.0.1:{port}"
        # Round-robin: four calls reach both nodes; each sees the room seeded in Redis.
        for _ in range(4):
            status, body = await asyncio.to_thread(
                get, f"{base}/api/rooms", {"Authorization": f"Bearer {ADMIN}"}
            )
            assert status == 200
            assert DEMO_ROOM in json.dumps(json.loads(body))
        status, page = await asyncio.to_thread(get, f"{base}/rooms/{DEMO_ROOM}")
        assert status == 200 and b"<html" in page.lower()
    finally:
        await asyncio.to_thread(local.stop)
        await redis.aclose()
    assert all(child.poll() is not None for child in local.children())


@pytest.mark.timeout(180)
def test_sigterm_stops_every_process_make_cluster_started() -> None:
    """``kill`` of ``make cluster`` leaves no node, Redis or HAProxy behind (it did)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.devtools.cluster",
            "--nodes",
            "1",
            "--port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Ctrl-C stops everything"):
                break
        children = psutil.Process(process.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert {"redis-server", "haproxy"} <= names and len(children) >= 8, names
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        left = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert left == [], [c.cmdline() for c in left]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:  # what a failed run left behind
            with contextlib.suppress(psutil.Error):
                child.kill()
