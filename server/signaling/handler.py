"""The ``/ws`` route: negotiate the subprotocol, then hand the socket to a ``Session``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.rooms.service import RoomService
from server.settings import SignalingSettings
from server.signaling.context import Feature
from server.signaling.direct import transport_of
from server.signaling.frames import FrameCache
from server.signaling.session import Session

JSON_PROTOCOL = "salon.v1.json"
MSGPACK_PROTOCOL = "salon.v1.msgpack"


def websocket_handler(
    service: RoomService, settings: SignalingSettings, features: tuple[Feature, ...] = ()
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    frames = FrameCache()  # shared by this app's sessions: a broadcast is encoded once

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
        direct = transport_of(request.transport)
        await Session(ws, service, settings, binary, features, frames, direct).run()
        return ws

    return handle
