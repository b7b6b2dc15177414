"""The ``/ws`` route: negotiate the subprotocol, then hand the socket to a ``Session``;
``Sockets`` keeps the open ones, so that a stopping server can send each page away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiohttp import WSMessage, WSMsgType, web

from server.rooms.service import RoomService
from server.settings import SignalingSettings
from server.signaling.coalesce import Flusher
from server.signaling.context import Feature
from server.signaling.direct import transport_of
from server.signaling.frames import FrameCache
from server.signaling.relay import Relay, RelayClient
from server.signaling.session import Session

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="Stoppable")
JSON_PROTOCOL = "salon.v1.json"
MSGPACK_PROTOCOL = "salon.v1.msgpack"


class Stoppable(Protocol):
    """A served socket (a ``Session``, or a ``Relay`` to the room's owner node)."""

    def server_stopping(self, retry_after: float) -> None: ...


class Sockets:
    """The sessions this app serves now, each with the event its handler sets when done."""

    def __init__(self) -> None:
        self._open: dict[Stoppable, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._open)

    def track(self, session: Stoppable) -> asyncio.Event:
        """Keep ``session`` until its handler sets the returned event and calls ``done``."""
        return self._open.setdefault(session, asyncio.Event())

    def done(self, session: Stoppable) -> None:
        done = self._open.pop(session, None)
        if done is not None:
            done.set()

    async def stop(self, retry_after: float, timeout: float) -> None:
        """Tell every page to reconnect in ``retry_after`` s, close every socket, and wait
        (up to ``timeout`` s) until each session has left its room."""
        sessions = dict(self._open)
        for session in sessions:
            session.server_stopping(retry_after)
        if not sessions:
            return
        waits = [asyncio.ensure_future(done.wait()) for done in sessions.values()]
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for wait in pending:
            wait.cancel()
        if pending:
            logger.warning("shutdown: %d sockets did not close in %.1f s", len(pending), timeout)


def websocket_handler(
    service: RoomService,
    settings: SignalingSettings,
    features: tuple[Feature, ...] = (),
    sockets: Sockets | None = None,
    relay: RelayClient | None = None,
    flusher: Flusher | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``relay`` (cluster mode): joins for a room another node owns are piped there;
    ``flusher``: the app's (its counts read by ``/metrics``), else one of this handler's."""
    frames = FrameCache()  # shared by this app's sessions: a broadcast is encoded once
    # Shared too: a flush writes every socket's frames of one loop iteration (or window).
    flusher = flusher or Flusher(settings.write_window)

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            protocols=(JSON_PROTOCOL, MSGPACK_PROTOCOL),
            heartbeat=settings.heartbeat,
            max_msg_size=settings.max_message_bytes,
            # Room messages are small and broadcast: deflating each copy for each recipient
            # costs more CPU than the bytes it saves (browsers would otherwise ask for it).
            compress=False,
        )
        await ws.prepare(request)
        binary = ws.ws_protocol == MSGPACK_PROTOCOL
        opened = asyncio.get_running_loop().time()
        first = None
        if relay is not None:
            first = await _first_frame(ws, settings.join_timeout)
            if first is not None and first.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                target = await relay.target(request, first.data, binary)
                up = await relay.connect(request, target, ws.ws_protocol) if target else None
                if up is not None:
                    await _serve(Relay(ws, binary), lambda r: r.run(up, first), sockets)
                    return ws
        direct = transport_of(request.transport)
        session = Session(ws, service, settings, binary, features, frames, direct, flusher)
        await _serve(session, lambda s: s.run(first, opened), sockets)
        return ws

    return handle


async def _first_frame(ws: web.WebSocketResponse, timeout: float) -> WSMessage | None:
    """The socket's first message (None: none within ``timeout``; the session says so)."""
    try:
        return await ws.receive(timeout=timeout)
    except TimeoutError:
        return None


async def _serve(served: S, run: Callable[[S], Awaitable[None]], sockets: Sockets | None) -> None:
    if sockets is not None:
        sockets.track(served)
    try:
        await run(served)
    finally:
        if sockets is not None:
            sockets.done(served)
