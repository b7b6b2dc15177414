"""One bot's WebSocket: connect, join, send, read, leave, and record what it saw.

A ``Client`` is a participant as docs/protocol.md describes it, in JSON or msgpack. It
measures the join (socket open → ``joined``), counts every message it sends and
receives by type, every ``error`` by code, and hands each received message to the
handlers its behaviours registered. Requests sent with ``request`` carry a ``ref``; the
reply (or error) with that ``ref`` gives an acknowledgement latency. Stamped chat lines
and questions (``loadtest.wire.stamp``) give delivery latencies wherever they arrive.

Every wait is bounded: a bot never hangs a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from loadtest import wire
from loadtest.scenario import Scenario
from loadtest.stats import Recorder

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0
JOIN_TIMEOUT = 15.0
REQUEST_TIMEOUT = 10.0
LEAVE_TIMEOUT = 3.0

Handler = Callable[[dict[str, Any]], None]


def room_socket_url(ws_url: str, room: str) -> str:
    """``ws_url`` with ``?room=ROOM``: a load balancer hashing on it sends every socket of
    a room to one node (the room's owner), as the room page does."""
    if not room or "room=" in ws_url:
        return ws_url
    joiner = "&" if "?" in ws_url else "?"
    return f"{ws_url}{joiner}{urlencode({'room': room})}"


@dataclass
class Env:
    """What every bot of one process shares."""

    session: aiohttp.ClientSession
    ws_url: str
    room: str
    rec: Recorder
    scenario: Scenario
    rng: random.Random
    stop_at: float = float("inf")  # wall time at which behaviours stop acting

    @property
    def acting(self) -> bool:
        return time.time() < self.stop_at


@dataclass(frozen=True)
class BotSpec:
    """One bot of the plan: who, with which token, what kind, and when it starts."""

    who: str
    token: str
    kind: str  # "signaling" | "media" | "host"
    binary: bool
    start_at: float  # seconds after the members' start


class Client:
    def __init__(self, env: Env, spec: BotSpec) -> None:
        self.env = env
        self.spec = spec
        self.rec = env.rec
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.me: dict[str, Any] = {}
        self.joined: dict[str, Any] = {}
        # People in the room, as ``joined`` and then each ``presence`` delta say.
        self.count = 0
        self.opened_at = 0.0  # monotonic time the socket opened
        self.state = "idle"  # connecting, joined, failed, dropped, left
        self._handlers: dict[str, list[Handler]] = {}
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], float, str]] = {}
        self._refs = 0
        self._reader: asyncio.Task[None] | None = None
        self._questions_seen: set[Any] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pid(self) -> str:
        return str(self.me.get("id", ""))

    @property
    def role(self) -> str:
        return str(self.me.get("role", ""))

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``work`` beside the reader (a reply, a renegotiation); owned, cancelled on
        close, and a failure is counted as ``task_failed:<name>`` rather than lost."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.rec.count(f"task_failed:{name}")
                logger.debug("%s: %s failed: %r", self.spec.who, name, finished.exception())

        task.add_done_callback(done)

    # --- connecting and joining ---------------------------------------------------------

    async def start(self) -> bool:
        """Connect and join; True once admitted. Failures are counted, never raised."""
        self.state = "connecting"
        self.rec.count("bots:started")
        started = time.monotonic()
        try:
            self.ws = await asyncio.wait_for(
                self.env.session.ws_connect(
                    room_socket_url(self.env.ws_url, self.env.room),
                    protocols=(wire.subprotocol(self.spec.binary),),
                    max_msg_size=0,
                    autoping=True,
                ),
                CONNECT_TIMEOUT,
            )
        except aiohttp.WSServerHandshakeError as exc:
            return self._failed(f"http_{exc.status}")
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed(f"connect_{type(exc).__name__}")
        except TimeoutError:
            return self._failed("connect_timeout")
        self.opened_at = time.monotonic()
        self.rec.count("sockets:open")
        self.rec.count("connect:ok")
        self.rec.latency("connect", (self.opened_at - started) * 1000)
        try:
            await self.send({"type": "join", "token": self.spec.token, "room": self.env.room})
            reply = await asyncio.wait_for(self._next(), JOIN_TIMEOUT)
        except TimeoutError:
            return await self._refused("join_timeout")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            return await self._refused(f"join_{type(exc).__name__}")
        if reply is None:
            return await self._refused(f"closed_{self.ws.close_code}")
        if reply.get("type") != "joined":
            # An ``error`` was counted by its code as it arrived; anything else is odd.
            odd = None if reply.get("type") == "error" else f"unexpected_{reply.get('type')}"
            return await self._refused(odd)
        self.rec.latency("join", (time.monotonic() - self.opened_at) * 1000, series="join")
        self.rec.count("join:ok", series="joins")
        self.rec.count(f"join:{self.spec.kind}")
        self.joined, self.me, self.state = reply, dict(reply.get("you", {})), "joined"
        self.count = int(reply.get("count", 0))
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.spec.who}")
        return True

    def _failed(self, code: str | None) -> bool:
        self.state = "failed"
        self.rec.count("join:failed", series="join_failed")
        if code is not None:
            self.rec.count(f"error:{code}", series="errors")
        return False

    async def _refused(self, code: str | None) -> bool:
        self.rec.count("sockets:open", -1)
        self._failed(code)
        await self._close()
        return False

    async def _next(self) -> dict[str, Any] | None:
        """The next message, counted; None when the socket closes."""
        assert self.ws is not None
        frame = await self.ws.receive()
        if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return None
        message = wire.decode(frame.data)
        kind = str(message.get("type"))
        self.rec.count(f"recv:{kind}", series="received")
        if kind == "error":
            self.rec.count(f"error:{message.get('code')}", series="errors")
        return message

    # --- sending ------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> bool:
        if self.ws is None or self.ws.closed:
            return False
        frame = wire.encode(message, self.spec.binary)
        try:
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            return False
        self.rec.count(f"sent:{message['type']}", series="sent")
        return True

    async def request(self, message: dict[str, Any], name: str) -> dict[str, Any] | None:
        """Send with a fresh ``ref``; the reply (or error) with it, or None on timeout."""
        self._refs += 1
        ref = f"r{self._refs}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = (future, time.monotonic(), name)
        try:
            if not await self.send({**message, "ref": ref}):
                return None
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            self.rec.count(f"error:timeout_{name}", series="errors")
            return None
        finally:
            self._pending.pop(ref, None)

    # --- reading ------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                message = await self._next()
                if message is None:
                    break
                self._dispatch(message)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            logger.debug("%s: reader stopped: %s", self.spec.who, exc)
        finally:
            if self.state == "joined":
                # Closed by the server while we were in the room (slow reader, replaced…).
                self.state = "dropped"
                self.rec.count("dropped")
                self.rec.count(f"error:closed_{self.ws.close_code}", series="errors")
                self.rec.count("sockets:open", -1)

    def _dispatch(self, message: dict[str, Any]) -> None:
        ref = message.get("ref")
        if isinstance(ref, str) and ref in self._pending:
            future, sent, name = self._pending[ref]
            if not future.done():
                self.rec.latency(f"ack:{name}", (time.monotonic() - sent) * 1000)
                future.set_result(message)
        kind = message.get("type")
        if kind in ("chat", "question"):
            self._delivered(kind, message)
        elif kind == "presence":
            self.count = int(message.get("count", self.count))
            # People listed in deltas (the rest of a burst is only counted: docs/protocol.md).
            self.rec.count("presence:listed", len(message.get("joined", ())))
        elif kind == "role" and message.get("participant", {}).get("id") == self.pid:
            self.me = dict(message["participant"])  # the host moved us on or off the stage
        for handler in self._handlers.get(str(kind), ()):
            try:
                handler(message)
            except Exception:
                logger.exception("%s: handler for %s failed", self.spec.who, kind)

    def _delivered(self, kind: str, message: dict[str, Any]) -> None:
        item = message if kind == "chat" else message.get("question", {})
        if kind == "question" and item.get("state") != "open":
            return
        stamped = wire.read_stamp(str(item.get("text", "")))
        if stamped is None:
            return
        if kind == "question":
            if item.get("id") in self._questions_seen:
                return  # a later update of a question already delivered
            self._questions_seen.add(item.get("id"))
        sender, _, sent_ns = stamped
        self.rec.latency(f"delivery:{kind}", wire.latency_ms(sent_ns), series="delivery")
        self.rec.count(f"delivered:{kind}")
        if sender == self.spec.who:
            self.rec.count(f"echo:{kind}")  # the server accepted our own line

    # --- leaving ------------------------------------------------------------------------

    async def leave(self) -> None:
        if self.state == "joined":
            self.state = "left"
            self.rec.count("left")
            self.rec.count("sockets:open", -1)
            await self.send({"type": "leave"})
            if self._reader is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(self._reader), LEAVE_TIMEOUT)
        await self._close()

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), LEAVE_TIMEOUT)
