"""``salon serve --workers 2`` as a real process group on the test's Redis (issue 11,
"several cores of one machine"): both workers register and accept the public port, a room
has one owner and chat reaches members on both workers; a worker killed with -9 is
restarted and its members come back with their resume tokens; SIGTERM stops the group
cleanly; bad input is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server import operations as ops
from server.cluster.leases import LeaseStore
from server.cluster.registry import NodeRegistry
from server.devtools.redis_embed import EmbeddedRedis, free_port
from server.engagement.members import MemberStore
from server.ids import RoomId
from server.rooms.store import RoomStore
from tests.functional.conftest import SECRET, Socket, token
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
HALL = RoomId("hall")
MEMBERS = [f"m{i}" for i in range(10)]
# More relayed sockets at once than aiohttp's default connection pool (100) holds.
CROWD = [f"c{i}" for i in range(110)]
# Short leases and heartbeats: a dead worker's room moves within seconds.
FAST = {
    "SALON_NODE_LEASE_TTL": "2.0",
    "SALON_NODE_LEASE_RENEW": "0.4",
    "SALON_NODE_HEARTBEAT": "0.3",
    "SALON_NODE_TTL": "1.5",
    "SALON_INTERACTIONS_CHAT_BURST": "500",
}


def salon(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def clean_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env.update(SALON_REDIS_URL=redis_url, SALON_SECRET=SECRET, **extra)
    return env


class Group:
    """The supervisor process and its combined output."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.process, self.log, self.port = process, log, port
        self.base = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> dict[int, int]:
        """Worker index -> pid, from the supervisor's children's command lines."""
        found: dict[int, int] = {}
        tasks = Path(f"/proc/{self.process.pid}/task")
        for task in tasks.iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"--worker-index" in argv:
                    found[int(argv[argv.index(b"--worker-index") + 1])] = int(pid)
        return found


@pytest.fixture
async def hall(seeded: Redis) -> Redis:
    members = MemberStore(seeded)
    for member in MEMBERS + CROWD:
        await ops.set_member(members, member, "core", member.upper())
    await ops.create_room(RoomStore(seeded), "hall", "Hall", "core", capacity=200)
    return seeded


def start_group(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


@pytest.fixture
async def group(redis_server: EmbeddedRedis, hall: Redis) -> AsyncIterator[Group]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="salon-workers-"))
    log = workdir / "serve.log"
    command = salon(
        "serve",
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ice-address",
        "127.0.0.1",
        "--rtp-ports",
        "47000-47099",
    )
    env = clean_env(redis_server.url, SALON_ENGAGEMENT_SPILL_DIR=str(workdir / "spill"), **FAST)
    process = await asyncio.to_thread(start_group, command, env, log)
    started = Group(process, log, port)
    try:
        await eventually(
            lambda: "with 2 workers" in started.output() or process.poll() is not None,
            what="the supervisor's 'serving on' line",
            timeout=60,
        )
        assert process.poll() is None, started.output()
        yield started
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 40)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


class Member:
    """One page: joins through a URL, keeps its resume token, rejoins with it."""

    def __init__(self, http: aiohttp.ClientSession, member: str, role: str = "member") -> None:
        self.http, self.member, self.role = http, member, role
        self.ws: Socket | None = None
        self.resume: str | None = None

    async def join(self, base: str) -> dict[str, Any]:
        self.ws = Socket(await self.http.ws_connect(f"{base}/ws", protocols=("salon.v1.json",)))
        message: dict[str, Any] = {
            "type": "join",
            "room": "hall",
            "token": token(self.member, room="hall", role=self.role),
        }
        if self.resume is not None:
            message["resume"] = self.resume
        await self.ws.send(message)
        reply = await self.ws.recv(timeout=10)
        if reply["type"] == "joined":
            self.resume = reply["resume_token"]
        return reply

    async def rejoin(self, base: str) -> dict[str, Any]:
        """Join until the room answers ``joined`` (while a dead worker's lease runs out
        the join may be told to come back)."""

        async def attempt() -> dict[str, Any] | None:
            try:
                reply = await self.join(base)
            except (aiohttp.ClientError, AssertionError, TimeoutError):
                return None
            return reply if reply["type"] == "joined" else None

        reply: dict[str, Any] = await eventually(
            attempt, what=f"{self.member} back in the room", timeout=30, interval=0.2
        )
        return reply

    async def hears(self, text: str) -> None:
        assert self.ws is not None
        while (await self.ws.recv_type("chat", timeout=10))["text"] != text:
            pass


async def chat_reaches_all(members: list[Member], text: str) -> None:
    assert members[0].ws is not None
    await members[0].ws.send({"type": "chat_send", "text": text})
    await asyncio.gather(*(m.hears(text) for m in members))


async def worker_urls(redis: Redis, port: int) -> dict[str, str]:
    """Registered node id -> advertised URL, for the workers of the group on ``port``."""
    nodes = await NodeRegistry(redis, 1.5).nodes()
    return {
        n.node_id: n.url for n in nodes if n.node_id.startswith(f"{socket.gethostname()}-{port}-w")
    }


@pytest.mark.timeout(180)
async def test_two_workers_share_the_port_and_one_room_has_one_owner(
    group: Group, hall: Redis
) -> None:
    node_prefix = f"{socket.gethostname()}-{group.port}-w"
    urls = await eventually(
        lambda: worker_urls(hall, group.port),
        what="both workers registered",
        until=lambda found: len(found) == 2,
    )
    assert sorted(urls) == [f"{node_prefix}0", f"{node_prefix}1"]
    # Each worker's advertised URL is its own internal port, not the shared one.
    assert len({*urls.values(), group.base}) == 3
    async with aiohttp.ClientSession() as http:
        members = [Member(http, m) for m in MEMBERS]
        for member in members[:-1]:
            assert (await member.join(group.base))["type"] == "joined"
        lease = await LeaseStore(hall, 2.0).holder(HALL)
        assert lease is not None and lease.node_id in urls
        # One page lands on the worker that does not own the room: relayed to the owner.
        other = next(url for node, url in urls.items() if node != lease.node_id)
        assert (await members[-1].join(other))["type"] == "joined"
        assert (await LeaseStore(hall, 2.0).holder(HALL)) == lease
        await chat_reaches_all(members, "hello both workers")
        await chat_reaches_all(members[::-1], "and back")
        for url in urls.values():
            async with http.get(f"{url}/metrics") as response:
                assert response.status == 200
        async with http.get(f"{urls[lease.node_id]}/healthz") as response:
            assert (await response.json())["rooms"] == 1
        async with http.get(f"{other}/healthz") as response:
            assert (await response.json())["rooms"] == 0


@pytest.mark.timeout(180)
async def test_more_than_a_hundred_sockets_are_relayed_at_once(group: Group, hall: Redis) -> None:
    """Regression: the relay's HTTP client kept aiohttp's default pool of 100 connections,
    and each relayed socket holds one, so the 101st page landing on a worker that does not
    own its room waited forever for its join (the burst_join run with --workers 2 lost
    430 of 1000 joins)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        host = Member(http, "host", "host")
        assert (await host.join(group.base))["type"] == "joined"
        lease = await LeaseStore(hall, 2.0).holder(HALL)
        assert lease is not None
        urls = await worker_urls(hall, group.port)
        other = next(url for node, url in urls.items() if node != lease.node_id)
        crowd = [Member(http, m) for m in CROWD]
        replies = await asyncio.gather(*(m.join(other) for m in crowd))
        assert [r["type"] for r in replies] == ["joined"] * len(CROWD)
        await chat_reaches_all([host, crowd[-1]], "all relayed")


@pytest.mark.timeout(240)
async def test_a_worker_killed_with_9_is_restarted_and_its_members_come_back(
    group: Group, hall: Redis
) -> None:
    async with aiohttp.ClientSession() as http:
        host = Member(http, "host", "host")
        members = [host, *(Member(http, m) for m in MEMBERS[:5])]
        ids = [(await member.join(group.base))["you"]["id"] for member in members]
        # A co-host: a role the resume token gives back on whichever worker takes over.
        assert host.ws is not None and members[1].ws is not None
        await host.ws.send({"type": "make_cohost", "participant": ids[1]})
        assert (await members[1].ws.recv_type("role"))["participant"]["role"] == "cohost"
        await chat_reaches_all(members, "before")
        lease = await LeaseStore(hall, 2.0).holder(HALL)
        assert lease is not None
        owner = int(lease.node_id.rsplit("-w", 1)[1])
        pids = group.worker_pids()
        assert sorted(pids) == [0, 1]
        os.kill(pids[owner], signal.SIGKILL)
        replies = [await member.rejoin(group.base) for member in members]
        cohost = replies[1]
        assert (cohost["you"]["role"], cohost["resumed"]["code"]) == ("cohost", "resumed")
        for reply in replies[2:]:
            assert reply["resumed"]["code"] == "nothing_kept", reply
            # The chat history came back from Redis with the room.
            assert "before" in json.dumps(reply)
        await chat_reaches_all(members, "after")
        # The supervisor started a new process for the dead worker, and it registered again.
        restarted = await eventually(
            group.worker_pids,
            what="the killed worker restarted",
            until=lambda found: found.get(owner, pids[owner]) != pids[owner],
            timeout=30,
        )
        assert restarted[1 - owner] == pids[1 - owner]
        await eventually(
            lambda: f"worker {owner} is back" in group.output(), what="the restart logged"
        )
        urls = await eventually(
            lambda: worker_urls(hall, group.port),
            what="both workers registered again",
            until=lambda found: len(found) == 2,
        )
        assert len(urls) == 2
    assert "Traceback" not in group.output()


@pytest.mark.timeout(120)
async def test_sigterm_stops_every_worker_cleanly(group: Group, hall: Redis) -> None:
    async with aiohttp.ClientSession() as http:
        member = Member(http, MEMBERS[0])
        assert (await member.join(group.base))["type"] == "joined"
        pids = group.worker_pids()
        group.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(group.process.wait, 60) == 0
    assert len(pids) == 2
    output = group.output()
    assert "Traceback" not in output
    assert output.count("stopping:") == 2, output
    # The workers left the registry on their orderly stop.
    assert await worker_urls(hall, group.port) == {}


def serve_once(
    redis_server: EmbeddedRedis, port: int, *flags: str
) -> subprocess.CompletedProcess[str]:
    """``salon serve`` on ``port`` with ``flags``, run to its end (it must not start)."""
    return subprocess.run(
        salon("serve", "--host", "127.0.0.1", "--port", str(port), *flags),
        cwd=ROOT,
        env=clean_env(redis_server.url),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--workers", "0"], "--workers '0' must be 'auto' or a number from 1 to"),
        (["--workers", "2", "--rtp-ports", "47000-47010"], "too few for 2 workers"),
    ],
)
def test_bad_worker_settings_give_one_line_and_exit_2(
    redis_server: EmbeddedRedis, flags: list[str], says: str
) -> None:
    done = serve_once(redis_server, free_port(), *flags)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and says in done.stderr, done.stderr


def test_a_public_port_held_by_another_program_is_one_line_and_exit_2(
    redis_server: EmbeddedRedis,
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = serve_once(redis_server, port, "--workers", "2", "--rtp-ports", "47000-47099")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"salon: settings: server.port {port} on 127.0.0.1 cannot be bound (Address already in use)"
    ]
