"""``make fuzz``: the protocol and REST fuzzers against a real server, for minutes.

Starts a throw-away Redis and ``salon serve`` (``loadtest.spawn``), creates a room and
three members for the protocol fuzzer, then runs both fuzzers at once for ``--seconds``
(``FUZZ_SECONDS``, default 300): ``tests/fuzz/ws_fuzz.py: run_ws_fuzz`` over JSON and
msgpack WebSockets and ``tests/fuzz/rest_fuzz.py: run_rest_fuzz`` over every operation of
``/api/openapi.json``. Prints frames and requests sent, failures, tracebacks in the
server's log and the server's RSS before and after; ``--json FILE`` keeps the figures.
Exits 1 if any fuzzer failed or the log holds a traceback. Run it inside
``scripts/netns-run`` (the Makefile does): every packet stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import Redis

from loadtest.spawn import SpawnedServer, spawn_server
from server import operations as ops
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from server.settings import AuthSettings
from tests.fuzz.rest_fuzz import run_rest_fuzz

ROOM = "fuzz"
HOST, MEMBER, WATCHER = "fz-host", "fz-member", "fz-watcher"


def _tracebacks(server: SpawnedServer) -> int:
    try:
        return server.log_path.read_text(errors="replace").count("Traceback (most recent")
    except OSError:
        return 0


def _rss(server: SpawnedServer) -> int:
    return int(psutil.Process(server.pid).memory_info().rss)


async def _seed(server: SpawnedServer, seconds: float) -> dict[str, Any]:
    """The fuzz room, its members, and tokens valid for the whole run."""
    redis = Redis.from_url(server.redis.url)
    try:
        members = MemberStore(redis)
        for member in (HOST, MEMBER, WATCHER):
            await ops.set_member(members, member, "core", member)
        await ops.create_room(RoomStore(redis), ROOM, "Fuzz room", "core", capacity=20)
    finally:
        await redis.aclose()
    auth = AuthSettings(secret=server.secret)
    ttl = int(seconds) + 3600

    def tok(member: str, role: str = "member") -> str:
        return ops.make_token(auth, member, ROOM, role, ttl)

    return {
        "host_token": tok(HOST, "host"),
        "member_tokens": [tok(MEMBER), tok(WATCHER)],
        "room": ROOM,
    }


async def _ws(server: SpawnedServer, seconds: float, seed: int | None) -> dict[str, Any]:
    from tests.fuzz.ws_fuzz import run_ws_fuzz

    result: dict[str, Any] = await run_ws_fuzz(
        server.url.replace("http", "ws", 1) + "/ws",
        seconds,
        **await _seed(server, seconds),
        seed=seed,
        tracebacks=lambda: _tracebacks(server),
        rss=lambda: _rss(server),
    )
    return result


async def fuzz(seconds: float, parts: tuple[str, ...], seed: int | None) -> dict[str, Any]:
    server = await asyncio.to_thread(spawn_server, None)
    try:
        rss_before = _rss(server)
        jobs: dict[str, Any] = {}
        if "ws" in parts:
            jobs["ws"] = _ws(server, seconds, seed)
        if "rest" in parts:
            jobs["rest"] = asyncio.to_thread(run_rest_fuzz, server.url, server.admin_key, seconds)
        results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
        report = {
            "seconds": seconds,
            "parts": list(parts),
            **results,
            "server_tracebacks": _tracebacks(server),
            "server_alive": server.process.poll() is None,
            "rss_before": rss_before,
            "rss_after": _rss(server) if server.process.poll() is None else None,
        }
        if report["server_tracebacks"]:
            report["log_tail"] = server.log_tail(60)
        return report
    finally:
        await asyncio.to_thread(server.stop)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MB"


def summary(report: dict[str, Any]) -> list[str]:
    lines = [f"fuzzed for {report['seconds']:.0f} s ({' + '.join(report['parts'])})"]
    ws = report.get("ws")
    if ws is not None:
        lines.append(
            f"  WebSocket: {ws['frames']} frames sent, {ws['failure_count']} failures, "
            f"closes {ws.get('closes', {})}"
        )
    rest = report.get("rest")
    if rest is not None:
        lines.append(
            f"  REST: {rest['requests']} requests over {rest['operations']} operations, "
            f"{rest['server_errors']} 5xx, {rest['failures']} failures, "
            f"statuses {rest['by_status']}"
        )
    lines.append(f"  tracebacks in the server log: {report['server_tracebacks']}")
    lines.append(
        f"  server RSS: {_mb(report['rss_before'])} before, {_mb(report['rss_after'])} after"
    )
    return lines


def failed(report: dict[str, Any]) -> bool:
    ws, rest = report.get("ws"), report.get("rest")
    return bool(
        report["server_tracebacks"]
        or not report["server_alive"]
        or (ws is not None and ws["failure_count"])
        or (rest is not None and (rest["failures"] or rest["server_errors"]))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "300"))
    )
    parser.add_argument(
        "--only", choices=("ws", "rest"), help="run one fuzzer (default: both at once)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", metavar="FILE", help="write the whole report there")
    args = parser.parse_args(argv)
    parts = (args.only,) if args.only else ("ws", "rest")
    report = asyncio.run(fuzz(args.seconds, parts, args.seed))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print("\n".join(summary(report)))
    for example in (report.get("rest") or {}).get("examples", [])[:5]:
        print(f"  REST failure: {example['operation']} -> {example['status']}: {example['curl']}")
    for failure in (report.get("ws") or {}).get("failures", [])[:5]:
        print(f"  WebSocket failure: {str(failure)[:300]}")
    if report.get("log_tail"):
        print(report["log_tail"])
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
