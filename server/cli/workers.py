"""``salon serve --workers N``: one supervisor process and N Salon nodes on this host.

Owns the worker plan (each worker's node id ``HOST-PORT-wK``, its internal port for
node-to-node relays, which is its advertised URL, and its UDP range carved out of
``media.rtp_ports``) and the supervisor: it starts the workers, which all accept the
public port through SO_REUSEPORT, restarts one that dies (with backoff), forwards
SIGTERM/SIGINT to them, and exits non-zero with one line when they cannot start.
With N > 1 every worker runs in cluster mode (node.own_rooms, rooms.state = "redis").
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from types import FrameType
from urllib.parse import urlsplit

from server.cli.output import say
from server.cluster.heartbeat import node_id
from server.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

MAX_WORKERS = 64
# The fewest UDP ports one worker may get out of media.rtp_ports.
MIN_RTP_PORTS = 8
# Restart backoff: doubled after each death, reset once a worker stayed up STABLE_S.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
STABLE_S = 30.0
# How long workers get to start, and to stop after SIGTERM (their rooms are handed over).
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.2
_WILDCARDS = ("", "0.0.0.0", "::")
_PR_SET_PDEATHSIG = 1


def worker_count(text: str) -> int:
    """``--workers``: a number from 1 to MAX_WORKERS, or ``auto`` (one per core)."""
    if text == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise SettingsError(
            f"--workers {text!r} must be 'auto' or a number from 1 to {MAX_WORKERS}"
        )
    return count


def split_rtp_ports(low: int, high: int, count: int) -> list[tuple[int, int]]:
    """``count`` adjacent ranges covering LOW-HIGH (the last takes the remainder);
    0-0 (OS-chosen ports) stays 0-0 for every worker."""
    if (low, high) == (0, 0):
        return [(0, 0)] * count
    size = high - low + 1
    each = size // count
    if each < MIN_RTP_PORTS:
        raise SettingsError(
            f"media.rtp_ports {low}-{high} has {size} ports, too few for {count} workers "
            f"(each needs at least {MIN_RTP_PORTS})"
        )
    ranges = [(low + k * each, low + (k + 1) * each - 1) for k in range(count)]
    ranges[-1] = (ranges[-1][0], high)
    return ranges


def _internal_host(settings: Settings) -> str:
    """The host other nodes reach a worker's internal port on."""
    if settings.node.advertised_url:
        host = urlsplit(settings.node.advertised_url).hostname
        if host:
            return host
    return "127.0.0.1" if settings.server.host in _WILDCARDS else settings.server.host


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def worker_settings(settings: Settings, count: int, index: int, internal_port: int) -> Settings:
    """Worker ``index`` of ``count``: its node id, advertised URL (its internal port),
    UDP range, and cluster mode when it has siblings."""
    if not 0 <= index < count:
        raise SettingsError(f"worker index {index} must be below --workers {count}")
    low, high = split_rtp_ports(settings.media.rtp_port_min, settings.media.rtp_port_max, count)[
        index
    ]
    node = replace(
        settings.node,
        id=f"{node_id(settings)}-w{index}",
        advertised_url=_url(_internal_host(settings), internal_port),
        own_rooms=settings.node.own_rooms or count > 1,
    )
    rooms = replace(settings.rooms, state="redis") if count > 1 else settings.rooms
    media = replace(settings.media, rtp_port_min=low, rtp_port_max=high)
    return replace(settings, node=node, rooms=rooms, media=media).validate()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _check_public_port(settings: Settings) -> None:
    """The public port can be bound with SO_REUSEPORT (nobody else holds it plainly)."""
    host = settings.server.host or "0.0.0.0"
    if settings.server.port == 0:
        raise SettingsError("server.port must be set (not 0) for several workers to share it")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind((host, settings.server.port))
    except OSError as exc:
        raise SettingsError(
            f"server.port {settings.server.port} on {host} cannot be bound ({exc.strerror})"
        ) from None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (even by kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Worker:
    """One worker process and its restart bookkeeping."""

    index: int
    internal_port: int
    url: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False
    ever_ready: bool = False
    backoff: float = BACKOFF_FIRST_S
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Starts the workers, restarts the dead ones, stops them all on SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, count: int, argv: list[str]) -> None:
        host = _internal_host(settings)
        self._count = count
        self._argv = argv
        self.public_url = _url(settings.server.host or "0.0.0.0", settings.server.port)
        self._workers = []
        for index in range(count):
            port = _free_port(settings.server.host)  # where the worker binds it
            # Fails here, before any worker starts, on a plan that cannot work.
            worker_settings(settings, count, index, port)
            self._workers.append(Worker(index, port, _url(host, port)))
        self._stopping = False

    def _command(self, worker: Worker) -> list[str]:
        # Later flags win: the worker reads the same settings, then its own part of them.
        return [
            sys.executable,
            "-m",
            "server.cli",
            *self._argv,
            "--workers",
            str(self._count),
            "--worker-index",
            str(worker.index),
            "--internal-port",
            str(worker.internal_port),
        ]

    def _start(self, worker: Worker) -> None:
        # A group of its own: a terminal's Ctrl-C reaches the supervisor only, which
        # forwards one SIGTERM (a second signal would cut a worker's hand-over short).
        worker.process = subprocess.Popen(
            self._command(worker), preexec_fn=_die_with_parent, process_group=0
        )
        worker.started = time.monotonic()
        worker.ready = False
        worker.restart_at = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code of the whole group."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for worker in self._workers:
            self._start(worker)
        announced = False
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._stopping:
            failure = self._tend()
            if failure is not None:
                self._stop_all()
                say(f"salon: {failure}", err=True)
                return 1
            if not announced and all(w.ready for w in self._workers):
                announced = True
                say(f"salon: serving on {self.public_url} with {self._count} workers")
            elif not announced and time.monotonic() > deadline:
                self._stop_all()
                say(f"salon: the workers did not answer within {START_TIMEOUT_S:.0f} s", err=True)
                return 1
            time.sleep(POLL_S)
        return self._stop_all()

    def _tend(self) -> str | None:
        """One look at every worker; a sentence when the group cannot start."""
        now = time.monotonic()
        for worker in self._workers:
            assert worker.process is not None
            code = worker.process.poll()
            if code is None:
                if not worker.ready and _answers(worker.url):
                    worker.ready = worker.ever_ready = True
                    if worker.restarts:
                        logger.info("worker %d is back (restart %d)", worker.index, worker.restarts)
                if worker.ready and now - worker.started > STABLE_S:
                    worker.backoff = BACKOFF_FIRST_S
                continue
            if not worker.ever_ready:
                return f"worker {worker.index} could not start (exit code {code}), see its log"
            if worker.restart_at is None:
                worker.restart_at = now + worker.backoff
                logger.warning(
                    "worker %d exited (code %d); restarting in %.1f s",
                    worker.index,
                    code,
                    worker.backoff,
                )
                worker.backoff = min(worker.backoff * 2, BACKOFF_MAX_S)
            elif now >= worker.restart_at:
                worker.restarts += 1
                self._start(worker)
        return None

    def _stop_all(self) -> int:
        """SIGTERM to every live worker, SIGKILL after STOP_TIMEOUT_S; 0 when all ended well."""
        live = [w.process for w in self._workers if w.process and w.process.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        clean = True
        for process in live:
            try:
                code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in time; killed", process.pid)
                process.kill()
                process.wait()
                clean = False
                continue
            clean = clean and code == 0
        return 0 if clean else 1


def supervise(settings: Settings, count: int, argv: list[str]) -> int:
    """Check the plan (one line and exit 2 when it cannot work), then run the workers."""
    _check_public_port(settings)
    supervisor = Supervisor(settings, count, argv)
    logger.info(
        "supervisor: %d workers on %s, cluster mode (rooms.state = redis)",
        count,
        supervisor.public_url,
    )
    return supervisor.run()
