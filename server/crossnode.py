"""Cross-node effects and figures wired into one app (issue 11):

- where this node's members are live (``server/rooms/whereabouts.py``, written on every
  join and leave) and the purchase attribution that reads it (``server/http/commerce.py``);
- the listener that applies other nodes' tier changes and purchases to this node's rooms
  (``server/rooms/effects.py``);
- this node's room summaries and metrics snapshot in Redis (``server/cluster/snapshots.py``)
  and the readers of every node's: ``/api/rooms``'s ``live`` list, ``/metrics?scope=cluster``.

A node that does not register (``node.register = false``) has no live peers to find: it
keeps to its own rooms and writes neither whereabouts nor snapshots.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.cluster.heartbeat import Heartbeat, advertised_url
from server.cluster.registry import NodeRegistry
from server.cluster.snapshots import SnapshotWriter, read_snapshots
from server.engagement.events import EventKind
from server.http.commerce import CommerceApi, CrossNode
from server.http.metrics import Snapshot
from server.ids import MemberId
from server.redis_client import RedisClient, connect
from server.rooms.effects import Effects, EffectsListener
from server.rooms.lost_pages import LostPages
from server.rooms.room import Room
from server.rooms.service import RoomService
from server.rooms.whereabouts import Whereabouts
from server.settings import Settings

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def room_summary(room: Room) -> dict[str, Any]:
    """One live room as ``/api/rooms`` lists it (before its node's id and URL)."""
    return {
        "room_id": room.room_id,
        "title": room.spec.title,
        "session": room.session_id,
        "participants": len(room.participants),
        "subscribers": room.media.stats()["subscribers"],
        "live": room.media.publisher is not None,
    }


@dataclass
class ClusterViews:
    """This node's view of every node: what ``/api/rooms`` and ``/metrics`` read."""

    settings: Settings
    redis: RedisClient
    service: RoomService
    node_id: str
    read_metrics: Callable[[], dict[str, Any]]

    def here(self) -> list[dict[str, Any]]:
        return [room_summary(room) for room in self.service.live_rooms.values()]

    async def live_rooms(self) -> list[dict[str, Any]]:
        """Every live room of every live node, each with its node's id and URL."""
        url = advertised_url(self.settings)
        rooms = [{**r, "node": self.node_id, "url": url} for r in self.here()]
        if not self.settings.node.register:
            return rooms
        registry = NodeRegistry(self.redis, self.settings.node.ttl)
        others = [n for n in await registry.nodes() if n.node_id != self.node_id]
        for snapshot in await read_snapshots(self.redis, others):
            node = snapshot.node
            rooms += [{**r, "node": node.node_id, "url": node.url} for r in snapshot.rooms]
        return sorted(rooms, key=lambda r: (str(r.get("room_id")), str(r["node"])))

    async def metrics(self) -> list[Snapshot]:
        """Every live node's figures (this node's read now), by node id."""
        figures: list[Snapshot] = [(self.node_id, self.read_metrics())]
        if self.settings.node.register:
            registry = NodeRegistry(self.redis, self.settings.node.ttl)
            others = [n for n in await registry.nodes() if n.node_id != self.node_id]
            for snapshot in await read_snapshots(self.redis, others):
                if snapshot.metrics:
                    figures.append((snapshot.node.node_id, snapshot.metrics))
        return sorted(figures, key=lambda item: item[0] or "")


@dataclass
class Wired:
    views: ClusterViews
    ctx: CleanupCtx


def cross_node(
    settings: Settings,
    redis: RedisClient,
    service: RoomService,
    heartbeat: Heartbeat,
    effects: Effects,
    commerce: CommerceApi,
    read_metrics: Callable[[], dict[str, Any]],
) -> Wired:
    """Wire the parts; ``ctx`` (a ``cleanup_ctx``) starts and stops their tasks."""
    registered = settings.node.register
    node = heartbeat.node_id
    whereabouts = Whereabouts(redis, node, heartbeat.started_ms)

    def figures() -> dict[str, Any]:
        # The process's CPU time too: a load test reads members and media per core.
        return {**read_metrics(), "cpu_seconds": round(time.process_time(), 3)}

    views = ClusterViews(settings, redis, service, node, figures)
    snapshots = SnapshotWriter(
        redis, node, settings.node.heartbeat, settings.node.ttl, views.here, figures
    )
    # Its own client: the subscription holds a connection, and blocking reads must not
    # meet the gate's socket timeout.
    listener_redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
    listener = EffectsListener(listener_redis, service, node)
    if registered:

        def joined(kind: EventKind, room: Room, member: MemberId, data: dict[str, Any]) -> None:
            participant = room.current_of(member) if kind is EventKind.JOIN else None
            if participant is not None:
                whereabouts.joined(room, participant)

        service.record_hooks.append(joined)
        service.leave_hooks.append(whereabouts.left)
        service.lost_pages = LostPages(
            redis, whereabouts, settings.node.lease_ttl, settings.node.heartbeat
        )
        registry = NodeRegistry(redis, settings.node.ttl)
        commerce.cross_node = CrossNode(whereabouts, effects, registry)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        listener.start()
        if registered:
            whereabouts.start()
            await snapshots.start()
        yield
        if registered:
            await snapshots.stop()
        await whereabouts.stop()
        await listener.stop()
        await effects.close()
        await listener_redis.aclose()

    return Wired(views, ctx)
