"""A ``salon serve`` of the fuzzer's own, for runs outside pytest (``make fuzz``).

``fuzz_local(seconds)`` starts a redis-server and ``salon serve`` (as an operator would,
with its log in a file), seeds a room and three members, runs ``run_ws_fuzz`` against it
and returns the report, with tracebacks counted in the server's log and RSS read from
the server's process. Rate limits are raised so that fuzzed messages reach the room's
rules instead of stopping at the limiter.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import Redis

from server import operations as ops
from server.devtools.local_server import healthy, serve_command, serve_env
from server.devtools.redis_embed import free_port, start_redis
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from server.settings import load_settings
from tests.fuzz.ws_fuzz import run_ws_fuzz

SALON = Path(sys.executable).with_name("salon")
ROOM = "fuzz"
MEMBERS = ("fz-host", "fz-member", "fz-watcher")
RELAXED_ENV = {
    f"SALON_INTERACTIONS_{kind.upper()}_BURST": "500"
    for kind in ("chat", "reaction", "vote", "question", "click", "moderation")
}
STARTUP_TIMEOUT = 30.0


def _count_tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback (most recent call last)")


async def _seed(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        members = MemberStore(redis)
        for member in MEMBERS:
            await ops.set_member(members, member, "core", member)
        await ops.create_room(RoomStore(redis), ROOM, "Fuzz room", "core", capacity=10)
    finally:
        await redis.aclose()


async def _healthy(base_url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not await asyncio.to_thread(healthy, base_url):
        if process.returncode is not None or time.monotonic() > deadline:
            tail = (await asyncio.to_thread(log.read_text))[-3000:]
            raise RuntimeError(f"salon serve did not start:\n{tail}")
        await asyncio.sleep(0.2)


async def fuzz_local(seconds: float, seed: int | None = None) -> dict[str, Any]:
    redis = await asyncio.to_thread(start_redis)
    workdir = Path(tempfile.mkdtemp(prefix="salon-fuzz-"))
    log = workdir / "server.log"
    secret = secrets.token_hex(32)
    try:
        await _seed(redis.url)
        port = free_port()
        low = 20000 + secrets.randbelow(30000)
        env = {**serve_env(redis.url, secret, secrets.token_urlsafe(24)), **RELAXED_ENV}
        out = await asyncio.to_thread(log.open, "wb")
        try:
            process = await asyncio.create_subprocess_exec(
                *serve_command([str(SALON)], port, redis.url, (low, low + 199)),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        finally:
            out.close()
        try:
            await _healthy(f"http://127.0.0.1:{port}", process, log)
            auth = load_settings(env={}, overrides={"auth.secret": secret}).auth
            ttl = int(seconds) + 600
            server = psutil.Process(process.pid)
            result = await run_ws_fuzz(
                f"ws://127.0.0.1:{port}/ws",
                seconds,
                host_token=ops.make_token(auth, MEMBERS[0], ROOM, "host", ttl),
                member_tokens=[ops.make_token(auth, m, ROOM, "member", ttl) for m in MEMBERS[1:]],
                room=ROOM,
                marker_every=0.5,
                seed=seed,
                tracebacks=lambda: _count_tracebacks(log),
                rss=lambda: int(server.memory_info().rss),
            )
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        result["server_log"] = str(log)
        return result
    finally:
        await asyncio.to_thread(redis.stop)
