"""A Janus process for the fan-out benchmark and its test: configuration, start, stop.

This module owns the ``janus`` process (Debian's package: ``/usr/bin/janus`` and its
plugins under ``/usr/lib/<arch>/janus``): it writes a configuration into a temporary
folder (loopback only, no STUN/TURN, its own RTP port range, the HTTP transport on a free
127.0.0.1 port; every other transport, every other plugin, loggers and event handlers
disabled; only the VideoRoom plugin loaded), starts Janus with it, waits until its HTTP
API answers, and stops it.

Janus (``ice.c``) never gathers on a loopback interface. Inside the namespace, before
the first start, 127.0.0.1/32 is also given to an ``ifb`` interface (``JANUS_IFACE``, up,
not flagged loopback) that Janus is told to use alone: its candidates then say
127.0.0.1, and the kernel delivers to a local address through ``lo``; no packet goes to
any other address. ``run_server`` is the benchmark's ``janus`` server role
(``loadtest.procs``): it starts Janus (which inherits the role's pinning to the server
core), creates the room, and tells the orchestrator Janus's pid (whose CPU is measured)
and API URL.

Run it only inside the loopback-only namespace (``scripts/netns-run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
from aiortc.codecs.vpx import MAX_BITRATE

from benchmarks.janus_api import JanusSession, create_room
from loadtest.procs import BenchError, Message, serve_commands

START_TIMEOUT = 15.0
STOP_GRACE = 5.0
RTP_PORTS = "42000-42999"  # Janus's own range; aiortc's bots take OS-chosen ports
JANUS_IFACE = "salon-janus"
KEPT = {"plugins": "libjanus_videoroom.so", "transports": "libjanus_http.so"}


def janus_binary() -> str:
    found = shutil.which("janus")
    if found is None:
        raise BenchError("janus is not installed (apt-get install janus; `make bench` does it)")
    return found


def _modules_folder() -> Path:
    for candidate in [*sorted(glob.glob("/usr/lib/*/janus")), "/usr/lib/janus"]:
        if Path(candidate, "plugins").is_dir():
            return Path(candidate)
    raise BenchError("janus plugins not found under /usr/lib/*/janus")


def _others(folder: Path, keep: str) -> str:
    """Every library in ``folder`` but ``keep``, as Janus's ``disable`` list."""
    names = sorted(p.name for p in folder.glob("libjanus_*.so") if p.name != keep)
    return ",".join(names)


def write_config(folder: Path, http_port: int, rtp_ports: str = RTP_PORTS) -> None:
    """Janus's configuration files in ``folder``: VideoRoom over HTTP, loopback only."""
    modules = _modules_folder()
    loggers = _others(modules / "loggers", "")
    (folder / "janus.jcfg").write_text(
        f"""general: {{
  configs_folder = "{folder}"
  plugins_folder = "{modules / "plugins"}"
  transports_folder = "{modules / "transports"}"
  events_folder = "{modules / "events"}"
  loggers_folder = "{modules / "loggers"}"
  debug_level = 3
  session_timeout = 60
}}
media: {{
  rtp_port_range = "{rtp_ports}"
  ipv6 = false
}}
nat: {{
  ice_enforce_list = "{JANUS_IFACE}"
  ignore_mdns = true
}}
plugins: {{
  disable = "{_others(modules / "plugins", KEPT["plugins"])}"
}}
transports: {{
  disable = "{_others(modules / "transports", KEPT["transports"])}"
}}
loggers: {{
  disable = "{loggers}"
}}
events: {{
  broadcast = false
}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
  json = "plain"
  base_path = "/janus"
  http = true
  port = {http_port}
  ip = "127.0.0.1"
  https = false
}}
admin: {{
  admin_http = false
  admin_https = false
}}
"""
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")


async def _ip(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "ip",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace").strip()


async def expose_loopback() -> None:
    """Give 127.0.0.1 to ``JANUS_IFACE`` too, once per namespace (see the docstring)."""
    if os.environ.get("LOOPBACK_NETNS") != "1":
        raise BenchError("Janus runs only inside the loopback-only namespace (scripts/netns-run)")
    status, _ = await _ip("link", "show", JANUS_IFACE)
    if status == 0:
        return
    for args in (
        ("link", "add", JANUS_IFACE, "type", "ifb"),
        ("addr", "add", "127.0.0.1/32", "dev", JANUS_IFACE),
        ("link", "set", JANUS_IFACE, "up"),
    ):
        status, output = await _ip(*args)
        if status != 0:
            raise BenchError(f"ip {' '.join(args)}: {output}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class JanusProcess:
    """One Janus with a generated configuration; ``url`` is its HTTP API."""

    def __init__(self, rtp_ports: str = RTP_PORTS) -> None:
        self._rtp_ports = rtp_ports
        self._folder = Path(tempfile.mkdtemp(prefix="salon-janus-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.log = self._folder / "janus.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("janus is not running")
        return self.process.pid

    async def start(self, http: aiohttp.ClientSession) -> None:
        await expose_loopback()
        write_config(self._folder, self.port, self._rtp_ports)
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                janus_binary(),
                "-F",
                str(self._folder),
                "--disable-colors",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise BenchError(f"janus exited ({self.process.returncode}): {self.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/info") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise BenchError(f"janus did not answer within {START_TIMEOUT:.0f}s: {self.tail()}")

    def tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def janus_room(
    http: aiohttp.ClientSession, rtp_ports: str = RTP_PORTS
) -> AsyncIterator[tuple[JanusProcess, JanusSession]]:
    """A running Janus with the benchmark's room, and a session on it; stopped on exit."""
    janus = JanusProcess(rtp_ports)
    session = JanusSession(http, janus.url)
    try:
        await janus.start(http)
        await session.open()
        await create_room(session, MAX_BITRATE)
        yield janus, session
    finally:
        await session.close()
        await janus.stop()


async def run_server(conn: Connection) -> None:
    """The benchmark's ``janus`` server role: Janus, one room, Janus's pid and URL."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
        janus_room(http) as (janus, _),
    ):
        conn.send({"ok": True, "url": janus.url, "pid": janus.pid, "port": janus.port})

        async def answer(message: Message) -> Message:
            if message.get("op") == "latency":
                return {"ok": True}  # Janus's forwarding is not instrumented
            if janus.process is None or janus.process.returncode is not None:
                raise BenchError(f"janus exited: {janus.tail()}")
            return {"ok": True, "pid": janus.pid}

        await serve_commands(conn, answer)
