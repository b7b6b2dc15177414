"""A rig for crash tests: a persistent ``redis-server`` the test can freeze, kill and
restart; ``salon serve`` children it can SIGKILL and start again on the same spill
directory; members chatting over real WebSockets and a shop posting events over REST,
each keeping what the server acknowledged; and a reader of the stream that says what
reached it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server import operations as ops
from server.devtools.local_server import serve_command, serve_env
from server.devtools.redis_embed import free_port
from server.engagement.events import STREAM_FIELD, STREAM_KEY, EventKind, decode
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from tests.functional.conftest import ADMIN_KEY, SECRET, token
from tests.support.waiting import eventually

SALON = [str(Path(sys.executable).with_name("salon"))]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


class PersistentRedis:
    """``redis-server`` with an fsync-always append-only file in ``workdir``: killed and
    started again on the same port, it keeps what it had acknowledged."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            await eventually(
                client.ping,
                ignoring=(RedisError, OSError),
                timeout=15,
                interval=0.05,
                what="redis-server answering",
            )
        finally:
            await client.aclose()

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL (a stopped process dies too) and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class ServeProcess:
    """``salon serve`` on a free port; every start uses the same spill directory."""

    def __init__(self, redis_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.env = env or {}
        self.spill = workdir / "spill"
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        env = serve_env(self.redis_url, SECRET, ADMIN_KEY)
        env.update(
            SALON_ENGAGEMENT_SPILL_DIR=str(self.spill),
            SALON_REDIS_TIMEOUT="0.5",
            SALON_INTERACTIONS_CHAT_RATE="1000",
            SALON_INTERACTIONS_CHAT_BURST="1000",
        )
        env.update(self.env)
        self.starts += 1
        low = 41000 + 200 * (self.port % 100)
        command = serve_command(SALON, self.port, self.redis_url, (low, low + 99))
        with (self.workdir / f"serve-{self.starts}.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=self.workdir
            )
        process = self.process

        async def healthy() -> bool:
            assert process.returncode is None, self.log()
            async with http.get(f"{self.url}/healthz") as response:
                return response.status == 200

        await eventually(
            healthy,
            ignoring=(aiohttp.ClientError, OSError),
            timeout=30,
            interval=0.05,
            what="salon serve healthy",
        )

    async def sigkill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM: a clean shutdown."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(20):
                    await self.process.wait()
            except TimeoutError:
                await self.sigkill()

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:]
            for path in sorted(self.workdir.glob("serve-*.log"))
        )


async def seed(redis_url: str, members: list[str]) -> None:
    client = Redis.from_url(redis_url)
    try:
        for member in members:
            await ops.set_member(MemberStore(client), member, "core", member.title())
        await ops.create_room(RoomStore(client), "vip", "VIP lounge", "core", capacity=20)
    finally:
        await client.aclose()


@dataclass
class Acknowledged:
    """What the server acknowledged: chat lines it broadcast back to their author, by
    (room session, message id) and author; events it answered 202, by event id."""

    chats: dict[tuple[str, str], str] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)


class Chatter:
    """A member in the room sending chat lines one after another, each acknowledged
    when its broadcast comes back."""

    def __init__(self, http: aiohttp.ClientSession, member: str, acks: Acknowledged) -> None:
        self.http = http
        self.member = member
        self.acks = acks
        self.sent = 0
        # Set once the member is in the room and a first line came back.
        self.chatting = asyncio.Event()

    async def chat(self, server: ServeProcess, until: asyncio.Event) -> None:
        """Join, then chat until ``until`` is set; the last line is always acknowledged
        (or the socket broke) before this returns."""
        async with self.http.ws_connect(
            f"{server.url.replace('http', 'ws')}/ws", protocols=("salon.v1.json",)
        ) as ws:
            await ws.send_str(json.dumps({"type": "join", "token": token(self.member)}))
            joined = await _next_of(ws, "joined")
            session = joined["interactions"]["session"]
            while not until.is_set():
                self.sent += 1
                text = f"{self.member} line {self.sent}"
                await ws.send_str(json.dumps({"type": "chat_send", "text": text}))
                while True:
                    message = await _next_of(ws, "chat")
                    if message["text"] == text:
                        self.acks.chats[(session, message["id"])] = self.member
                        self.chatting.set()
                        break
                await asyncio.sleep(0.01)


async def _next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        data: dict[str, Any] = json.loads(msg.data)
        if data.get("type") == kind:
            return data
        assert data.get("type") != "error", data


async def shop(
    http: aiohttp.ClientSession,
    server: ServeProcess,
    name: str,
    acks: Acknowledged,
    stop: asyncio.Event,
) -> int:
    """Post purchases by ``buyer`` until ``stop``; return how many were answered 202."""
    answered = 0
    while not stop.is_set():
        order = f"{name}-{answered}"
        body = {"kind": "purchase", "id": order, "member_id": "buyer", "order_id": order,
                "amount": "10.00", "currency": "EUR"}  # fmt: skip
        async with http.post(f"{server.url}/api/events", json=body, headers=AUTH) as response:
            assert response.status == 202, await response.text()
        acks.events.add(f"x-{order}")
        answered += 1
        await asyncio.sleep(0.02)
    return answered


@dataclass
class StreamContent:
    chats: Counter[tuple[str, str]]
    events: Counter[str]


async def stream_content(client: Redis) -> StreamContent:
    """Chat lines (by room session and message id) and REST events (by id) in the stream,
    each with how many entries carry it."""
    content = StreamContent(Counter(), Counter())
    for _entry, fields in await client.xrange(STREAM_KEY):
        event = decode(fields[STREAM_FIELD])
        if event.kind is EventKind.CHAT and event.data.get("action") == "send":
            content.chats[(str(event.data["session"]), str(event.data["message_id"]))] += 1
        elif event.id.startswith("x-"):
            content.events[event.id] += 1
    return content
