"""A real server (aiohttp test server) on a real, flushed Redis, and helpers to talk to it.

Also shared here: the ``salon`` command's environment (``cli_env``), a Redis the test can
stop and restart (``own_redis``), ``xadd`` onto the event stream, the joined-room
fixtures of the interactions tests (``serve``, ``room``), and a real ``salon serve``
process on its own Redis (``spawned``) for the REST fuzzer and the document checks.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from loadtest.spawn import SpawnedServer, spawn_server
from server import operations as ops
from server.app import QuietAccessLogger, create_app
from server.devtools.redis_embed import EmbeddedRedis, start_redis
from server.engagement.events import STREAM_FIELD, STREAM_KEY, Event, decode, encode
from server.engagement.members import MemberStore
from server.rooms.store import RoomStore
from server.settings import Settings, load_settings
from tests.support.waiting import eventually

SECRET = "functional-test-secret-0123456789"
# Where the apps of this test run keep their event spills; removed when the run ends.
SPILL_ROOT = tempfile.mkdtemp(prefix="salon-test-spill-")
atexit.register(shutil.rmtree, SPILL_ROOT, True)
ADMIN_KEY = "functional-admin-key"
CLI_SECRET = "cli-test-secret-0123456789abcdef"


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    base = {
        "redis.url": redis_url,
        "auth.secret": SECRET,
        "auth.admin_key": ADMIN_KEY,
        "media.ice_addresses": "127.0.0.1",
        "engagement.scorer_enabled": True,
        # Each app its own event spill: events an app saved at shutdown (Redis down) must
        # never be replayed into another test's Redis.
        "engagement.spill_dir": tempfile.mkdtemp(dir=SPILL_ROOT),
        # Presence deltas almost at once, so that tests about other things can drain them
        # (``drain_presence``); tests of the coalescing itself set the real interval.
        "signaling.presence_interval": 0.01,
    }
    base.update(overrides)
    return load_settings(env={}, overrides=base)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings every app of a test gets (none here; ``tests/redis_state`` sets some)."""
    return {}


@pytest.fixture
def settings(redis_server: EmbeddedRedis, redis: Redis, app_overrides: dict[str, Any]) -> Settings:
    return make_settings(redis_server.url, **app_overrides)


@pytest.fixture
async def seeded(redis: Redis) -> Redis:
    """Members of every tier, a host, and a room for core and active members."""
    members, rooms = MemberStore(redis), RoomStore(redis)
    for member_id, tier in [
        ("cora", "core"),
        ("cody", "core"),
        ("ada", "active"),
        ("pia", "potential"),
        ("sid", "silent"),
        ("host", "core"),
    ]:
        await ops.set_member(members, member_id, tier, member_id.title())
    await ops.create_room(rooms, "vip", "VIP lounge", "core,active", capacity=3, invites=["pia"])
    await ops.create_room(rooms, "other", "Other room", "core")
    return redis


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    seeded: Redis,
) -> TestClient[Any, Any]:
    # The access logger `salon serve` uses, so tests see what production would log.
    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=QuietAccessLogger)
    return await aiohttp_client(server)


def token(
    member: str, room: str = "vip", role: str = "member", ttl: int = 600, secret: str = SECRET
) -> str:
    settings = replace(make_settings("redis://unused").auth, secret=secret)
    return ops.make_token(settings, member, room, role, ttl)


class Socket:
    """A test-side WebSocket that speaks the JSON protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def recv(self, timeout: float = 5, presence: bool = False) -> dict[str, Any]:
        """The next message; presence deltas (which come when they come, even about this
        socket's own join) are passed over unless ``presence``."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
            data: dict[str, Any] = json.loads(msg.data)
            if presence or data["type"] != "presence":
                return data

    async def recv_type(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        while True:
            message = await self.recv(timeout, presence=kind == "presence")
            if message["type"] == kind:
                return message

    async def join(self, tok: str, room: str | None = "vip") -> dict[str, Any]:
        message: dict[str, Any] = {"type": "join", "token": tok}
        if room:
            message["room"] = room
        await self.send(message)
        return await self.recv()

    async def closed_with(self, timeout: float = 5) -> int | None:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                return self.ws.close_code


@pytest.fixture
async def connect(client: TestClient[Any, Any]) -> AsyncIterator[Callable[..., Awaitable[Socket]]]:
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def open_socket(protocol: str = "salon.v1.json") -> Socket:
        ws = await client.ws_connect("/ws", protocols=(protocol,))
        sockets.append(ws)
        return Socket(ws)

    yield open_socket
    for ws in sockets:
        await ws.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis) -> None:
    """The environment the ``salon`` command reads: the test Redis and ``CLI_SECRET``."""
    for name in ("SALON_SECRET", "SALON_REDIS_URL", "SALON_ADMIN_KEY", "SALON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SALON_REDIS_URL", redis_server.url)
    monkeypatch.setenv("SALON_SECRET", CLI_SECRET)


async def xadd(redis: Redis, *events: Event) -> None:
    """Put ``events`` on the event stream, as the recorder would."""
    for event in events:
        await redis.xadd(STREAM_KEY, {STREAM_FIELD: encode(event)})


class Restartable:
    """A redis-server of the test's own that it can stop and start again on one port."""

    def __init__(self) -> None:
        self.servers: list[EmbeddedRedis] = []

    async def up(self) -> EmbeddedRedis:
        port = self.servers[-1].port if self.servers else None
        self.servers.append(await asyncio.to_thread(start_redis, port))
        return self.servers[-1]

    async def down(self) -> None:
        await asyncio.to_thread(self.servers[-1].stop)


@pytest.fixture
async def own_redis() -> AsyncIterator[Restartable]:
    holder = Restartable()
    try:
        yield holder
    finally:
        for server in holder.servers:
            await asyncio.to_thread(server.stop)


# --- the interactions feature (test_interactions*.py, test_commerce.py) ----------------

WEBHOOK_SECRET = "shop-webhook-secret-0123456789"
# Generous limits so that tests about other rules never trip them.
RELAXED = {
    "interactions.chat_burst": 500,
    "interactions.reaction_burst": 500,
    "interactions.vote_burst": 500,
    "interactions.question_burst": 500,
    "interactions.click_burst": 500,
    "commerce.webhook_secret": WEBHOOK_SECRET,
}
PRODUCT = {
    "type": "product_pin",
    "id": "bag-1",
    "title": "Spring <i>tote</i>",
    "price": "€49",
    "image": "https://cdn.example.com/bag.jpg",
    "link": "https://shop.example.com/p/bag-1",
}


@pytest.fixture
async def serve(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
    app_overrides: dict[str, Any],
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """``await serve(**overrides)``: a real server with these settings (plus RELAXED)."""

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        settings = make_settings(redis_server.url, **{**RELAXED, **app_overrides, **overrides})
        return await aiohttp_client(create_app(settings))

    return start


class Person(Socket):
    """A joined socket, with what ``joined`` said and the server it is connected to."""

    def __init__(self, socket: Socket, client: TestClient[Any, Any], joined: dict[str, Any]):
        super().__init__(socket.ws)
        self.client = client
        self.joined = joined

    @property
    def state(self) -> dict[str, Any]:
        """The late-joiner state of the interactions feature."""
        state: dict[str, Any] = self.joined["interactions"]
        return state


Room = Callable[..., Awaitable[Person]]


@pytest.fixture
async def room(serve: Callable[..., Awaitable[TestClient[Any, Any]]]) -> Room:
    """``await room(member, role="member", **overrides)``: a joined socket in room vip.

    The first call starts the server (with ``overrides``); later calls join the same one.
    """
    clients: list[TestClient[Any, Any]] = []

    async def join(member: str, role: str = "member", **overrides: Any) -> Person:
        if not clients:
            clients.append(await serve(**overrides))
        elif overrides:
            raise AssertionError("one server per test: pass overrides on the first join")
        ws = Socket(await clients[0].ws_connect("/ws"))
        joined = await ws.join(token(member, role=role))
        assert joined["type"] == "joined", joined
        return Person(ws, clients[0], joined)

    return join


async def drain_presence(*sockets: Socket) -> None:
    """Read and drop presence messages already queued (joins of later sockets)."""
    for ws in sockets:
        while True:
            try:
                message = await ws.recv(timeout=0.05, presence=True)
            except TimeoutError:
                break
            assert message["type"] == "presence", message


async def before_marker(ws: Socket, within: float = 5) -> list[dict[str, Any]]:
    """Every message ``ws`` gets until the answer to a ping sent now (the marker): the
    server answers in order, so all it had sent this socket before is in the list."""
    ref = f"marker-{secrets.token_hex(4)}"
    await ws.send({"type": "ping", "ref": ref})
    seen: list[dict[str, Any]] = []
    while True:
        message = await ws.recv(timeout=within, presence=True)
        if message["type"] == "pong" and message.get("ref") == ref:
            return seen
        seen.append(message)


async def expect_nothing(ws: Socket, kind: str, within: float = 5) -> None:
    """No ``kind`` message has been sent to ``ws`` (checked up to a marker, not a pause)."""
    for message in await before_marker(ws, within):
        assert message["type"] != kind, message


async def stream_events(redis: Redis, count: int, timeout: float = 5.0) -> list[Event]:
    """The stream's events once there are at least ``count`` of them."""

    async def read() -> list[Event]:
        return [decode(fields[b"e"]) for _, fields in await redis.xrange(STREAM_KEY)]

    events: list[Event] = await eventually(
        read, until=lambda found: len(found) >= count, timeout=timeout, what=f"{count} events"
    )
    return events


async def purchase_events(redis: Redis, count: int) -> list[Event]:
    async def read() -> list[Event]:
        return [e for e in await stream_events(redis, 0) if e.kind == "purchase"]

    events: list[Event] = await eventually(
        read, until=lambda found: len(found) >= count, timeout=5, what=f"{count} purchases"
    )
    return events


def interaction_events(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind not in ("join", "leave")]


async def ask(ws: Socket, text: str) -> dict[str, Any]:
    """Ask ``text`` and return the question as the room announced it."""
    await ws.send({"type": "question_ask", "text": text})
    while True:
        question: dict[str, Any] = (await ws.recv_type("question"))["question"]
        if question["text"] == text:
            return question


@pytest.fixture
def spawned() -> Iterator[SpawnedServer]:
    """``salon serve`` as a process on its own Redis, stopped after the test."""
    server = spawn_server(None, rtp_ports=50)
    try:
        yield server
    finally:
        server.stop()
