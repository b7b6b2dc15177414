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
from redis.exceptions import RedisError

from server.cli.output import say
from server.cluster.heartbeat import Heartbeat, node_id
from server.cluster.leases import LeaseStore
from server.cluster.ownership import Ownership
from server.cluster.registry import Load, NodeRegistry
from server.cluster.routing import Router
from server.consult.service import ConsultService
from server.consult.store import ConsultStore
from server.consult.tracker import ConsultTracker
from server.crossnode import cross_node
from server.engagement.events import Event
from server.engagement.funnel_hooks import HookFunnelFeed
from server.engagement.ledger import TierChange
from server.engagement.members import MemberStore
from server.engagement.recorder import EventRecorder
from server.engagement.reward_points import load_point_rules
from server.engagement.rules import load_rules
from server.engagement.scorer import Scorer
from server.gc_pacing import GcPacing
from server.hooks.scheduler import SessionScheduler
from server.hooks.store import HookStore
from server.http import commerce as commerce_api
from server.http import consult as consult_api
from server.http import core as api
from server.http import engagement as engagement_api
from server.http import history_import as history_import_api
from server.http import hooks as hooks_api
from server.http import openapi
from server.http import replay as replay_api
from server.http import tiers as tiers_api
from server.http import webhooks as webhooks_api
from server.http.commerce import CommerceApi
from server.http.common import api_errors
from server.http.consult import ConsultApi
from server.http.core import OperatorApi
from server.http.engagement import EngagementApi
from server.http.history_import import HistoryImportApi
from server.http.hook_limits import HookLimits
from server.http.hooks import HooksApi
from server.http.metrics import LoopLag, metrics_handler
from server.http.replay import ReplayApi
from server.http.rewards import PATHS as REWARD_PATHS
from server.http.rewards import RewardsApi
from server.http.tiers import TiersApi
from server.http.webhooks import WebhooksApi
from server.ids import RoomId
from server.redis_client import RedisClient, connect, disconnect, ready
from server.rooms.bans import BanStore
from server.rooms.bus import LocalRoomBus
from server.rooms.click_store import ClickStore
from server.rooms.effects import Effects
from server.rooms.media import IcePolicy
from server.rooms.notices import push_tier_change
from server.rooms.removals import RemovalListener
from server.rooms.replay import Recordings
from server.rooms.replay_store import ReplayStore
from server.rooms.reward_service import Rewards
from server.rooms.room_states import session_states
from server.rooms.service import RoomService
from server.rooms.store import RoomStore
from server.settings import Settings
from server.signaling.coalesce import Flusher
from server.signaling.context import Feature
from server.signaling.handler import Sockets, websocket_handler
from server.signaling.interactions import Interactions
from server.signaling.people import PeopleFeature
from server.signaling.relay import RelayClient
from server.signaling.rewards import RewardsFeature
from server.signaling.stage import StageFeature
from server.webhooks.dispatcher import WebhookDispatcher
from server.webhooks.outbox import WebhookOutbox
from server.webhooks.store import WebhookStore

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
HEARTBEAT = web.AppKey("heartbeat", Heartbeat)
SERVICE = web.AppKey("service", RoomService)
RECORDER = web.AppKey("recorder", EventRecorder)
SETTINGS = web.AppKey("settings", Settings)
INTERACTIONS = web.AppKey("interactions", Interactions)
REMOVALS = web.AppKey("removals", RemovalListener)
SOCKETS = web.AppKey("sockets", Sockets)
# A stop tells every page to come back after about this long (docs/protocol.md), and gives
# the sockets this long to close before the rooms and their media are closed anyway.
RECONNECT_AFTER_S = 1.0
SOCKETS_CLOSE_S = 5.0
# What aiohttp still waits for in-flight requests after that (its default is 60 s).
SHUTDOWN_TIMEOUT_S = 10.0
# Routes that are not REST (pages, the WebSocket, static files): not in the OpenAPI document.
NOT_REST = ("/ws", "/rooms/{room_id}", "/r/{code}", "/replay/{session}", "/static", "/dashboard")
WEBHOOKS = web.AppKey("webhooks", WebhookOutbox)

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
    app = web.Application(client_max_size=256 * 1024, middlewares=[api_errors])
    app[SETTINGS] = settings
    redis = connect(settings.redis.url, settings.redis.timeout)
    recorder = EventRecorder(redis, settings.engagement, wait_replicas=settings.redis.wait_replicas)
    rules = load_rules(settings.tiers.rules_file)
    members = MemberStore(redis, rules.half_life_ms)
    rooms = RoomStore(redis)
    bans = BanStore(redis)
    # Room sessions in this process or Redis (rooms.state); broadcasts within the process.
    service = RoomService(
        settings,
        rooms,
        members,
        recorder,
        IcePolicy.from_settings(settings.media),
        session_states(settings, redis),
        LocalRoomBus(),
        bans,
    )
    lag = LoopLag()
    # Webhooks out: the outbox queues in Redis, the dispatcher posts (never the room).
    webhook_store = WebhookStore(redis)
    dispatcher = WebhookDispatcher(redis, webhook_store, settings.webhooks)
    outbox = WebhookOutbox(webhook_store, on_queued=dispatcher.wake)
    app[WEBHOOKS] = outbox
    app[REDIS] = redis
    app[RECORDER] = recorder
    app[SERVICE] = service

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        # A cluster client learns the slot map (and the command table) on first use:
        # done here, not inside the first join's time budget. A Redis that is down now is
        # the gate's business later (it refuses ``unavailable``), not a reason not to start.
        try:
            await asyncio.wait_for(ready(redis), settings.redis.timeout * 5)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("redis: not reachable at start-up (%s)", type(exc).__name__)
        yield
        await redis.aclose()

    async def recorder_ctx(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        yield
        await recorder.stop()

    # Tier changes and purchases reach rooms on other nodes (server/crossnode.py).
    effects = Effects(redis, node_id(settings))

    def on_tier_change(change: TierChange) -> None:
        push_tier_change(service, change.member_id, change.to_json())
        effects.tier_changed(change.member_id, change.to_json())
        outbox.publish("tier.changed", change.to_json())

    async def scorer_ctx(app: web.Application) -> AsyncIterator[None]:
        if not settings.engagement.scorer_enabled:
            yield
            return
        # Its own client: blocking stream reads must not hold the gate's connections.
        scorer_redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
        # Tier changes go to the hosts of the member's rooms, on this node and (through
        # Redis) on the others: whichever node's scorer applies the event.
        scorer = Scorer(
            scorer_redis,
            settings.engagement,
            consumer=f"{socket.gethostname()}-{id(app)}",
            rules=rules,
            on_tier_change=on_tier_change,
            sweep_interval=settings.tiers.sweep_interval,
            review_ms=int(settings.tiers.review_interval * 1000),
        )
        await scorer.start()
        yield
        # A blocked XREADGROUP can outlive its cancellation inside redis-py: closing the
        # client's connections ends the read, so stopping is bounded.
        stopping = asyncio.ensure_future(scorer.stop())
        await asyncio.sleep(0)
        await disconnect(scorer_redis)
        await stopping
        await scorer_redis.aclose()

    # An orderly stop (SIGTERM, runner cleanup), before any cleanup_ctx unwinds: pages are
    # told to reconnect and their sockets closed (each leaves its room, its leave event
    # recorded), then the rooms close (their sessions end) and their media; the recorder,
    # still running, flushes every event when its context stops.
    sockets = Sockets()
    app[SOCKETS] = sockets
    # The sockets' broadcast frames, written once per socket per flush (its counts in /metrics).
    flusher = Flusher(settings.signaling.write_window)

    async def stop_rooms(app: web.Application) -> None:
        if service.ownership is not None:
            # Cluster mode: the rooms move to other nodes rather than end.
            service.ownership.stopping = True
            await service.hand_over_all()
        logger.info("stopping: %d sockets told to reconnect", len(sockets))
        await sockets.stop(RECONNECT_AFTER_S, SOCKETS_CLOSE_S)
        flusher.close()
        await service.close()

    app.on_shutdown.append(stop_rooms)

    async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
        lag.start()
        yield
        await lag.stop()
        await service.close()

    async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
        await outbox.start()
        await dispatcher.start()
        yield
        await dispatcher.stop()
        await outbox.stop()

    # Sessions, hook links and their funnel: announced by the scheduler, counted by a feed
    # on the event stream; purchases attributed to a room go out as webhooks.
    hooks = HookStore(redis)
    scheduler = SessionScheduler(hooks, outbox.publish, settings.webhooks.schedule_interval)

    def on_purchase(event: Event, link: str | None) -> None:
        outbox.publish(
            "purchase.attributed",
            {"member_id": event.member_id, "room_id": event.room_id, "link": link, **event.data},
        )

    # Its own client: the feed's stream read blocks until an entry comes.
    funnel_redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
    funnel = HookFunnelFeed(redis, funnel_redis, on_purchase)

    async def journey_ctx(app: web.Application) -> AsyncIterator[None]:
        await funnel.start()
        await scheduler.start()
        yield
        await scheduler.stop()
        await funnel.stop()
        await funnel_redis.aclose()

    app.cleanup_ctx.extend(
        [redis_ctx, recorder_ctx, webhooks_ctx, journey_ctx, scorer_ctx, rooms_ctx]
    )

    # Chat, reactions, Q&A, polls, products; stops first (its click writes need Redis).
    clicks = ClickStore(redis, settings.commerce.attribution_window)
    interactions = Interactions(settings.interactions, clicks)
    app[INTERACTIONS] = interactions

    async def interactions_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await interactions.close()

    app.cleanup_ctx.append(interactions_ctx)

    # Bans and removals ordered over REST or the CLI, on any node (server/rooms/removals.py).
    # Its own client: the subscription holds a connection, and blocking reads must not
    # meet the gate's socket timeout.
    listener_redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
    removals = RemovalListener(listener_redis, service, bans)
    app[REMOVALS] = removals

    async def removals_ctx(app: web.Application) -> AsyncIterator[None]:
        removals.start()
        yield
        await removals.stop()
        await listener_redis.aclose()

    app.cleanup_ctx.append(removals_ctx)
    # Message groups beyond the core protocol (server/signaling/context.py: Feature).
    # Stage: hands, invitations, speakers, mutes, co-host, removal and bans.
    stage = StageFeature(service)
    # Rewards: coupons, lucky draws, quizzes, check-ins and points (server/http/rewards.py).
    rewards = Rewards(
        redis,
        load_point_rules(settings.tiers.rules_file),
        rules.currency,
        settings.redis.timeout,
        recorder.record,
    )
    rewards_feature = RewardsFeature(service, rewards)
    rewards_api = RewardsApi(settings, rewards)

    async def rewards_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await rewards_feature.close()

    app.cleanup_ctx.append(rewards_ctx)
    features: tuple[Feature, ...] = (interactions, stage, rewards_feature, PeopleFeature())

    relay: RelayClient | None = None

    def read_metrics() -> dict[str, Any]:
        roles: Counter[str] = Counter()
        subscribers = 0
        for room in service.live_rooms.values():
            roles.update(p.role.value for p in room.participants)
            subscribers += room.media.stats()["subscribers"]
        return {
            "rooms": len(service.live_rooms),
            "participants": {role: roles[role] for role in ("host", "cohost", "speaker", "member")},
            "subscribers": subscribers,
            # Process totals: they never fall when a room closes.
            "media": service.media_counters.as_dict(),
            "event_buffer": recorder.depth,
            "event_spill": recorder.spill_depth,
            "events_spilled": recorder.spilled,
            "events_dropped": recorder.dropped,
            "events_journalled": recorder.journalled,
            "event_journal_lag": recorder.journal_lag,
            "events_written": recorder.written,
            "loop_lag": lag.last,
            "ws_frames_coalesced": flusher.frames,
            "ws_writes_coalesced": flusher.writes,
            # Cluster mode: sockets relayed to an owner node and from other nodes.
            "relays": relay.counts() if relay is not None else {},
        }

    # This node in the node registry (server/cluster/): registered at start, a heartbeat
    # with its load, gone on an orderly stop.
    def node_load() -> Load:
        figures = read_metrics()
        people = sum(figures["participants"].values())
        return Load(figures["rooms"], people, figures["subscribers"])

    registry = NodeRegistry(redis, settings.node.ttl)
    heartbeat = Heartbeat(registry, settings, node_load)
    app[HEARTBEAT] = heartbeat
    # Cluster mode: rooms owned through leases, moved off a drained or stopping node, and
    # sockets for a room owned elsewhere relayed to its owner.
    if settings.node.own_rooms:
        node = settings.node
        ownership = Ownership(LeaseStore(redis, node.lease_ttl), heartbeat.node_id,
                              node.lease_ttl, node.lease_renew, service.lost)  # fmt: skip
        ownership.refuse_new = lambda: heartbeat.draining
        service.ownership = ownership
        relay = RelayClient(Router(ownership, registry, node.ttl), settings.auth.secret)
        heartbeat.on_drained.append(
            lambda: service.background(service.hand_over_all(), "handing rooms over")
        )

    async def heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
        if service.ownership is not None:
            service.ownership.start()
        if relay is not None:
            relay.start()
        if not settings.node.register:
            yield
        else:
            await heartbeat.start()
            yield
            await heartbeat.stop()
        if relay is not None:
            await relay.close()
        if service.ownership is not None:
            await service.ownership.stop()

    app.cleanup_ctx.append(heartbeat_ctx)

    # Replays: sessions recorded while their room's toggle is on (server/rooms/replay.py).
    replay_store = ReplayStore(redis, settings.replay.dir)
    recordings = Recordings(service, replay_store, settings.replay.enabled)

    async def replay_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await recordings.close()

    app.cleanup_ctx.append(replay_ctx)
    replay = ReplayApi(settings, redis, replay_store, recordings, rooms, members, bans, recorder)

    async def room_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "room.html", headers=PAGE_HEADERS)

    hook_limits = HookLimits(settings.consult)

    async def hook_file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "hook.html", headers=PAGE_HEADERS)

    hook_page = hook_limits.guard(hook_file)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "rooms": len(service.live_rooms)})

    # 1:1 consultations: their private rooms are watched for start and end; a reported
    # purchase is credited to the member's consultation (during it or within the window).
    def session_of(room_id: RoomId) -> str | None:
        room = service.live_rooms.get(room_id)
        return room.session_id if room is not None else None

    consult = ConsultService(
        settings, ConsultStore(redis), rooms, members, recorder, outbox.publish, session_of
    )
    attribution_s = round(settings.consult.attribution_hours * 3600)
    tracker = ConsultTracker(service, consult.store, outbox.publish, attribution_s)
    service.record_hooks.append(tracker.on_record)

    async def purchase_reported(purchase: dict[str, Any]) -> dict[str, Any]:
        rewards = await rewards_api.purchase_reported(purchase)
        return {**rewards, **await consult.purchase_reported(purchase)}

    commerce = CommerceApi(settings, service, clicks, redis, recorder)
    commerce.on_purchase = purchase_reported
    wired = cross_node(settings, redis, service, heartbeat, effects, commerce, read_metrics)
    app.cleanup_ctx.append(wired.ctx)
    operator_api = OperatorApi(settings, members, rooms, bans, redis)
    operator_api.live_rooms = wired.views.live_rooms
    engagement = EngagementApi(settings, redis, recorder, rules, members, rooms)
    engagement.session_extras.append(rewards_api.session_extra)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/metrics", metrics_handler(read_metrics, wired.views.metrics)),
            web.get(
                "/ws",
                websocket_handler(service, settings.signaling, features, sockets, relay, flusher),
            ),
            web.get("/rooms/{room_id}", room_page),
            web.get("/r/{code}", hook_page),
            web.static("/static", WEB_DIR, show_index=False),
            web.get(
                openapi.OPENAPI_PATH,
                openapi.openapi_handler(
                    openapi.document(
                        openapi.SERVICE_PATHS,
                        api.PATHS,
                        commerce_api.PATHS,
                        engagement_api.PATHS,
                        REWARD_PATHS,
                        webhooks_api.PATHS,
                        hooks_api.PATHS,
                        consult_api.PATHS,
                        history_import_api.PATHS,
                        tiers_api.PATHS,
                        replay_api.PATHS,
                    )
                ),
            ),
            *operator_api.routes(),
            *commerce.routes(),
            *engagement.routes(),
            *rewards_api.routes(),
            *HistoryImportApi(settings, redis, rules).routes(),
            *TiersApi(settings, redis, rules).routes(),
            *WebhooksApi(settings, webhook_store).routes(),
            *HooksApi(
                settings, redis, hooks, rooms, members, recorder, outbox, hook_limits
            ).routes(),
            *ConsultApi(settings, consult).routes(),
            *replay.routes(),
        ]
    )
    return app


def run(
    settings: Settings,
    print_ready: bool = True,
    reuse_port: bool = False,
    internal_port: int | None = None,
) -> None:
    """Serve until interrupted, on uvloop. A worker of ``salon serve --workers N``
    shares the public port with its siblings (``reuse_port``) and also listens on its
    own ``internal_port`` (its advertised URL, for relays from the other nodes)."""
    import uvloop

    app = create_app(settings)
    # The serving process's collector: no full collection over the heap while rooms fill
    # (server/gc_pacing.py). Last, so that what every other context started is frozen too.
    pacing = GcPacing()

    async def gc_ctx(app: web.Application) -> AsyncIterator[None]:
        pacing.start()
        yield
        await pacing.stop()

    app.cleanup_ctx.append(gc_ctx)
    internal = None
    if internal_port is not None:
        internal = [socket.create_server((settings.server.host, internal_port))]
    if print_ready:
        say(f"salon: serving on http://{settings.server.host}:{settings.server.port}")
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        access_log_class=QuietAccessLogger,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        loop=uvloop.new_event_loop(),
        reuse_port=reuse_port or None,
        sock=internal,
    )
