"""The app factory: the only place where signaling, rooms, engagement and Redis meet.

``create_app(settings)`` builds an ``aiohttp`` application; Redis, the event recorder,
the scorer and the rooms start in ``cleanup_ctx`` and stop in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from redis.asyncio import Redis

from server.api import OperatorApi
from server.engagement.members import MemberStore
from server.engagement.recorder import EventRecorder
from server.engagement.scorer import Scorer
from server.metrics import LoopLag, metrics_handler
from server.rooms.media_ice import IcePolicy
from server.rooms.service import RoomService
from server.rooms.store import RoomStore
from server.settings import Settings
from server.signaling.handler import websocket_handler

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

REDIS = web.AppKey("redis", Redis)
SERVICE = web.AppKey("service", RoomService)
RECORDER = web.AppKey("recorder", EventRecorder)
SETTINGS = web.AppKey("settings", Settings)

# The room link carries a token in its query string: keep it out of other sites' logs
# and out of anything the page did not bring itself.
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; "
        "media-src 'self' blob: mediastream:; object-src 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}


class QuietAccessLogger(AbstractAccessLogger):
    """Access log without query strings: room links carry tokens there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings
    redis = Redis.from_url(
        settings.redis.url,
        socket_timeout=settings.redis.timeout,
        socket_connect_timeout=settings.redis.timeout,
        health_check_interval=10,
    )
    recorder = EventRecorder(redis, settings.engagement)
    members = MemberStore(redis)
    rooms = RoomStore(redis)
    service = RoomService(
        settings, rooms, members, recorder, IcePolicy.from_settings(settings.media)
    )
    lag = LoopLag()
    app[REDIS] = redis
    app[RECORDER] = recorder
    app[SERVICE] = service

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    async def recorder_ctx(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        yield
        await recorder.stop()

    async def scorer_ctx(app: web.Application) -> AsyncIterator[None]:
        if not settings.engagement.scorer_enabled:
            yield
            return
        # Its own client: blocking stream reads must not hold the gate's connections.
        scorer_redis = Redis.from_url(
            settings.redis.url, socket_connect_timeout=settings.redis.timeout
        )
        scorer = Scorer(
            scorer_redis, settings.engagement, consumer=f"{socket.gethostname()}-{id(app)}"
        )
        await scorer.start()
        yield
        # A blocked XREADGROUP can outlive its cancellation inside redis-py: closing the
        # client's connections ends the read, so stopping is bounded.
        stopping = asyncio.ensure_future(scorer.stop())
        await asyncio.sleep(0)
        await scorer_redis.connection_pool.disconnect()
        await stopping
        await scorer_redis.aclose()

    async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
        lag.start()
        yield
        await lag.stop()
        await service.close()

    app.cleanup_ctx.extend([redis_ctx, recorder_ctx, scorer_ctx, rooms_ctx])

    def read_metrics() -> dict[str, Any]:
        roles: Counter[str] = Counter()
        subscribers = frames = 0
        for room in service.live_rooms.values():
            roles.update(p.role.value for p in room.participants)
            stats = room.media.stats()
            subscribers += stats["subscribers"]
            frames += stats["frames_in"]
        return {
            "rooms": len(service.live_rooms),
            "participants": {"host": roles["host"], "member": roles["member"]},
            "subscribers": subscribers,
            "frames_in": frames,
            "event_buffer": recorder.depth,
            "events_written": recorder.written,
            "loop_lag": lag.last,
        }

    async def room_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "room.html", headers=PAGE_HEADERS)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "rooms": len(service.live_rooms)})

    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/metrics", metrics_handler(read_metrics)),
            web.get("/ws", websocket_handler(service, settings.signaling)),
            web.get("/rooms/{room_id}", room_page),
            web.static("/static", WEB_DIR, show_index=False),
            *OperatorApi(settings, members, rooms).routes(),
        ]
    )
    return app


def run(settings: Settings, print_ready: bool = True) -> None:
    """Serve until interrupted, on uvloop."""
    import uvloop

    app = create_app(settings)
    if print_ready:
        print(f"salon: serving on http://{settings.server.host}:{settings.server.port}", flush=True)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        access_log_class=QuietAccessLogger,
        print=None,
        loop=uvloop.new_event_loop(),
    )
