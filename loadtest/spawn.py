"""``--spawn-server``: a throw-away Salon server for a local run.

Starts a throw-away ``redis-server`` (as ``server.devtools.redis_embed`` does) and ``salon serve``
on free loopback ports, with a fresh secret and admin key, ICE on 127.0.0.1 and a UDP
port range sized for the run, both pinned to the server's core
(``loadtest.procs.plan_cores``) with a raised open-file limit. Both run in a session of
their own, so the Ctrl-C a terminal sends to the load tester's process group does not
stop them before the bots have left and the figures are read. The load tester then
talks to it like to any other server; knowing its Redis, it can also check its figures
against the server's event stream.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server.devtools.local_server import healthy, serve_command, serve_env
from server.devtools.redis_embed import EmbeddedRedis, free_port

STARTUP_TIMEOUT = 30.0
REDIS_TIMEOUT = 10.0


def _salon() -> list[str]:
    exe = Path(sys.executable).with_name("salon")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli.main"]


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class SpawnedServer:
    url: str
    admin_key: str
    secret: str
    redis: EmbeddedRedis
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.redis.stop()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def start_redis(cores: frozenset[int] | None) -> EmbeddedRedis:
    """``redis-server`` on a free loopback port, no persistence, in its own session."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="salon-loadtest-redis-"))
    command = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--dir", str(workdir)]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    redis = EmbeddedRedis(port, process, workdir)
    deadline = time.monotonic() + REDIS_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return redis
        except OSError:
            time.sleep(0.05)
    redis.stop()
    raise RuntimeError(f"redis-server did not start on port {port}")


def spawn_server(cores: frozenset[int] | None, rtp_ports: int = 2000) -> SpawnedServer:
    """Start Redis and ``salon serve`` (pinned to ``cores``); wait until healthy."""
    redis = start_redis(cores)
    workdir = Path(tempfile.mkdtemp(prefix="salon-loadtest-"))
    port = free_port()
    low = 20000 + secrets.randbelow(30000)
    secret, admin_key = secrets.token_hex(16), secrets.token_urlsafe(24)
    env = serve_env(redis.url, secret, admin_key)
    command = serve_command(
        _salon(), port, redis.url, (low, low + rtp_ports - 1), ("--log-level", "WARNING")
    )

    def pin() -> None:  # in the child, before exec: every thread it starts inherits both
        _raise_nofile()
        if cores:
            os.sched_setaffinity(0, cores)

    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=pin,
            start_new_session=True,
        )
    server = SpawnedServer(f"http://127.0.0.1:{port}", admin_key, secret, redis, process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not healthy(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"salon serve did not start:\n{tail}")
        time.sleep(0.1)
    return server
