"""Relaying a socket to the node that owns its room (cluster mode, docs/cluster.md).

A page's WebSocket may land on any node. This node reads the first frame (the join),
asks the ``Router`` where the room is served and, when another live node owns it, opens a
WebSocket to that node's advertised URL with a signed relay header and the client's
address, sends the join, and pipes frames both ways until either side closes; close codes
pass through. If the owner's socket drops without a close (the owner died), the page is
told to reconnect at once (``room_moved``, close 1012): its next join takes the room over.
An owner that cannot be reached at all leaves the join to this node (which then waits
for the dead owner's lease to run out and takes the room).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from server import outbound as out
from server.cluster.routing import RELAY_HEADER, Router, relay_header, relayed_by
from server.ids import RoomId, is_valid_id
from server.rooms.tokens import peek_room
from server.signaling import messages as m
from server.signaling.errors import CLOSE_NORMAL, CLOSE_SERVICE_RESTART

logger = logging.getLogger(__name__)

# Seconds to reach the owner node before the join is served here instead.
CONNECT_TIMEOUT_S = 2.0
# A page whose owner node vanished reconnects after this long (seconds).
RETRY_AFTER_S = 0.05
DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


def room_of(data: str | bytes, binary: bool) -> RoomId | None:
    """The room a join frame asks for, or None when the frame is no valid join."""
    try:
        message = m.parse(m.decode_frame(data, binary))
    except Exception:
        return None
    if not isinstance(message, m.Join):
        return None
    if message.room is not None:
        return RoomId(message.room) if is_valid_id(message.room) else None
    return peek_room(message.token)


def passable(code: int | None) -> int:
    """A close code that may be sent on (1005/1006 and the like may not)."""
    if code is None or code in (1005, 1006, 1015) or code < 1000:
        return CLOSE_NORMAL
    return code


class RelayClient:
    """This node's HTTP client for relayed sockets (owned by the app: ``start``/``close``)."""

    def __init__(self, router: Router, secret: str) -> None:
        self.router = router
        self._secret = secret
        self._http: aiohttp.ClientSession | None = None
        # Since the process started: sockets piped from here to an owner ("out") and
        # sockets another node piped here ("in"); ``/metrics`` shows both.
        self.relayed_out = 0
        self.relayed_in = 0

    def counts(self) -> dict[str, int]:
        return {"out": self.relayed_out, "in": self.relayed_in}

    def start(self) -> None:
        # No pool limit: each relayed socket holds its connection for the socket's life
        # (aiohttp's default of 100 left the 101st join waiting for a free one forever).
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def trusted(self, request: web.Request) -> bool:
        """Whether the upgrade was relayed by another node of this cluster."""
        return relayed_by(self._secret, request.headers.get(RELAY_HEADER)) is not None

    async def target(self, request: web.Request, data: str | bytes, binary: bool) -> str | None:
        """The owner URL to relay this join to, or None: serve it here."""
        if self._http is None:
            return None
        if self.trusted(request):
            self.relayed_in += 1
            return None
        room_id = room_of(data, binary)
        if room_id is None:
            return None
        try:
            return await self.router.target(room_id)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("room %s: owner unknown (%s): served here", room_id, exc)
            return None

    async def connect(
        self, request: web.Request, url: str, protocol: str | None
    ) -> aiohttp.ClientWebSocketResponse | None:
        """A socket to the owner at ``url``, or None when it cannot be reached."""
        assert self._http is not None
        forwarded = request.headers.get("X-Forwarded-For")
        client = request.remote or ""
        headers = {
            RELAY_HEADER: relay_header(self._secret, self.router.node_id),
            "X-Forwarded-For": f"{forwarded}, {client}" if forwarded else client,
        }
        try:
            up = await self._http.ws_connect(
                f"{url.rstrip('/')}/ws",
                protocols=(protocol,) if protocol else (),
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=CONNECT_TIMEOUT_S),
                autoclose=False,
                autoping=True,
                max_msg_size=0,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.info("owner at %s unreachable (%s): serving the join here", url, exc)
            return None
        self.relayed_out += 1
        return up


class Relay:
    """One relayed socket: the page's (``ws``) piped to the owner's (``up``)."""

    def __init__(self, ws: web.WebSocketResponse, binary: bool) -> None:
        self._ws = ws
        self._binary = binary
        self._up: aiohttp.ClientWebSocketResponse | None = None
        self._stopping: asyncio.Future[None] | None = None

    def server_stopping(self, retry_after: float) -> None:
        """This (relaying) node stops: the page reconnects through the router."""
        # Owned here: ``run`` ends when the page's socket closes, which this task does.
        self._stopping = asyncio.ensure_future(self._send_away("server_stopping", retry_after))

    async def _send_away(self, code: str, retry_after: float) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            frame = m.encode_frame(out.reconnect(code, retry_after), self._binary)
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            else:
                await self._ws.send_str(frame)
            await self._ws.close(code=CLOSE_SERVICE_RESTART, message=code.encode())
        if self._up is not None:
            await self._up.close()

    async def run(self, up: aiohttp.ClientWebSocketResponse, first: aiohttp.WSMessage) -> None:
        """Send ``first`` up, then pipe both ways until either side closes."""
        self._up = up
        down = asyncio.ensure_future(self._down(up))
        closing = False
        try:
            await self._forward(first, up)
            while True:
                msg = await self._ws.receive()
                if msg.type not in DATA:
                    # CLOSING: this side is closing the page's socket (``_down``).
                    closing = msg.type == WSMsgType.CLOSING
                    break
                await self._forward(msg, up)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            if closing:
                await asyncio.wait({down}, timeout=CONNECT_TIMEOUT_S)
            if not down.done():
                # The page went first: the owner sees the same close.
                await up.close(code=passable(self._ws.close_code))
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await down
            await up.close()
            if self._stopping is not None:
                await asyncio.wait({self._stopping}, timeout=CONNECT_TIMEOUT_S)

    @staticmethod
    async def _forward(msg: aiohttp.WSMessage, to: Any) -> None:
        if msg.type == WSMsgType.BINARY:
            await to.send_bytes(msg.data)
        else:
            await to.send_str(msg.data)

    async def _down(self, up: aiohttp.ClientWebSocketResponse) -> None:
        """Owner to page; when the owner closes, the page gets the same close (or, if the
        owner vanished without one, is told to reconnect at once)."""
        msg: aiohttp.WSMessage | None = None
        try:
            while True:
                msg = await up.receive()
                if msg.type not in DATA:
                    break
                await self._forward(msg, self._ws)
        except (ConnectionError, RuntimeError):
            pass
        if self._ws.closed:
            return
        if msg is not None and msg.type == WSMsgType.CLOSE:
            extra = msg.extra if isinstance(msg.extra, str) else ""
            await self._ws.close(code=passable(msg.data), message=extra.encode())
        else:
            await self._send_away("room_moved", RETRY_AFTER_S)
