"""``--spawn-server``: a throw-away Salon server for a local run.

Starts a throw-away ``redis-server`` and ``salon serve`` (the operator's command, run as a
child process: nothing of the server is imported here) on free loopback ports, with a
fresh secret and admin key, ICE on 127.0.0.1 and a UDP port range sized for the run, both
pinned to the server's core (``loadtest.procs.plan_cores``) with a raised open-file
limit. The benchmarks that need a server start it here too. Both run in a session of
their own, so the Ctrl-C a terminal sends to the load tester's process group does not
stop them before the bots have left and the figures are read. The load tester then
talks to it like to any other server; knowing its Redis, it can also check its figures
against the server's event stream.

With ``scorer_process`` the server runs with its engagement scorer off and one
``salon scorer`` process beside it (pinned like Redis, to the server's cores): the
deployment that keeps scoring out of the serving process.
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
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 30.0
REDIS_TIMEOUT = 10.0


def _salon() -> list[str]:
    exe = Path(sys.executable).with_name("salon")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli.main"]


def free_port() -> int:
    """A loopback TCP port nobody held a moment ago (the OS picks it)."""
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    finally:
        probe.close()
    return port


def healthy(base_url: str) -> bool:
    """Whether the server at ``base_url`` answers ``GET /healthz`` with 200 within a second."""
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=1) as answer:
            return int(answer.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True)
class ChildRedis:
    """The spawned server's ``redis-server``: no persistence, stopped with the server."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        _end(self.process, grace=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _end(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL once ``grace`` seconds have passed; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class SpawnedServer:
    url: str
    admin_key: str
    secret: str
    redis: ChildRedis
    process: subprocess.Popen[bytes]
    log_path: Path
    # ``salon scorer`` beside the server (``scorer_process``), else None.
    scorer: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The server's processes: ``salon serve``, and its workers under ``--workers N``."""
        found = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                found += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        _end(self.process, grace=15)
        if self.scorer is not None:
            _end(self.scorer, grace=15)
        self.redis.stop()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def start_redis(cores: frozenset[int] | None) -> ChildRedis:
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
    redis = ChildRedis(f"redis://127.0.0.1:{port}/0", process, workdir)
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


def spawn_server(
    cores: frozenset[int] | None,
    rtp_ports: int = 2000,
    settings: Mapping[str, str] | None = None,
    workers: int = 1,
    scorer_process: bool = False,
) -> SpawnedServer:
    """Start Redis and ``salon serve`` (pinned to ``cores``; ``--workers N`` with
    ``rtp_ports`` UDP ports each); wait until healthy, every worker up. With
    ``scorer_process``, the server's scorer is off and one ``salon scorer`` runs beside it.

    ``settings`` are extra ``SALON_*`` environment variables for the server (a benchmark's
    rate limits, say); any other ``SALON_*`` of this process is left out.
    """
    redis = start_redis(cores)
    workdir = Path(tempfile.mkdtemp(prefix="salon-loadtest-"))
    port = free_port()
    low = 20000 + secrets.randbelow(30000)
    secret, admin_key = secrets.token_hex(16), secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if not name.startswith("SALON_")}
    env |= {"SALON_REDIS_URL": redis.url, "SALON_SECRET": secret, "SALON_ADMIN_KEY": admin_key}
    env |= dict(settings or {})
    if scorer_process:
        env["SALON_ENGAGEMENT_SCORER_ENABLED"] = "false"
    # Served on loopback, offering 127.0.0.1 as its only ICE address, media in a port range.
    command = [*_salon(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--redis-url", redis.url, "--ice-address", "127.0.0.1",
               "--rtp-ports", f"{low}-{low + rtp_ports * workers - 1}", "--log-level", "WARNING",
               "--workers", str(workers)]  # fmt: skip

    def pin() -> None:  # in the child, before exec: every thread it starts inherits both
        _raise_nofile()
        if cores:
            os.sched_setaffinity(0, cores)

    def launch(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as log:
            return subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                preexec_fn=pin,
                start_new_session=True,
            )

    log_path = workdir / "server.log"
    process = launch(command, log_path)
    server = SpawnedServer(f"http://127.0.0.1:{port}", admin_key, secret, redis, process, log_path)
    if scorer_process:
        scorer_command = [*_salon(), "scorer", "--redis-url", redis.url]
        server.scorer = launch(scorer_command, workdir / "scorer.log")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    # The supervisor of --workers N says so once every worker answers.
    ready = f"with {workers} workers"
    while not healthy(server.url) or (workers > 1 and ready not in server.log_tail()):
        scorer_died = server.scorer is not None and server.scorer.poll() is not None
        if process.poll() is not None or scorer_died or time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"salon serve did not start:\n{tail}")
        time.sleep(0.1)
    return server


def spawn_pinned() -> SpawnedServer:
    """``spawn_server`` on the server's share of the cores (``procs.plan_cores``); this
    process then keeps to the bots' share."""
    from loadtest.procs import plan_cores

    server_cores, bot_cores, _ = plan_cores()
    server = spawn_server(server_cores)
    if bot_cores:
        os.sched_setaffinity(0, bot_cores)
    return server
