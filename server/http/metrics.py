"""The ``/metrics`` endpoint: Prometheus figures read from live state at scrape time.

A registry per application (no module-level state): rooms, participants, media (the
process's totals: frames and packets in; frames, RTP packets and bytes forwarded;
keyframe requests, retransmissions, task failures), the event buffer, event-loop lag
measured by a small background task, and the process's CPU time and memory.
``?scope=cluster`` renders the same Salon figures for every live node, each sample with a
``node`` label (docs/decisions.md, "Cross-node effects").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from server.http.common import error_response, unavailable_response


class LoopLag:
    """Measures how late a periodic wake-up runs: the event loop's responsiveness."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.last = 0.0
        self.max = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.last = max(0.0, time.perf_counter() - start - self.interval)
            self.max = max(self.max, self.last)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# Media's process counters (``server/media/counters.py``): name, key, help.
MEDIA_COUNTERS = (
    ("salon_media_frames_in", "frames_in", "Encoded frames received from publishers"),
    ("salon_media_packets_in", "packets_in", "RTP media packets received from publishers"),
    ("salon_media_forwarded_frames", "frames_out", "Encoded frames forwarded to subscribers"),
    ("salon_media_forwarded_packets", "packets_out", "RTP packets forwarded to subscribers"),
    ("salon_media_forwarded_bytes", "bytes_out", "Payload bytes forwarded to subscribers"),
    ("salon_media_keyframe_requests", "keyframe_requests", "PLIs sent to publishers"),
    ("salon_media_retransmissions", "retransmissions", "Subscribers' NACKs answered"),
    (
        "salon_media_task_failures",
        "task_failures",
        "Media background tasks and callbacks that raised (each one logged)",
    ),
)


# The event recorder's figures: kind, name, key, help.
EVENT_FIGURES = (
    ("gauge", "salon_event_buffer_depth", "event_buffer", "Events waiting to be written to Redis"),
    ("counter", "salon_events_written", "events_written", "Events written to Redis"),
    (
        "gauge",
        "salon_event_spill_depth",
        "event_spill",
        "Events waiting in the disk spill (Redis slow or down)",
    ),
    ("counter", "salon_events_spilled", "events_spilled", "Events sent to the disk spill"),
    (
        "counter",
        "salon_events_journalled",
        "events_journalled",
        "Events written and fsynced to the local journal",
    ),
    (
        "gauge",
        "salon_event_journal_lag",
        "event_journal_lag",
        "Events recorded but not yet in the journal (at most journal_interval old)",
    ),
    (
        "counter",
        "salon_events_dropped",
        "events_dropped",
        "Events lost: memory and spill both full",
    ),
)

# The sockets' coalesced writes (``server/signaling/coalesce.py``): name, key, help.
SOCKET_COUNTERS = (
    (
        "salon_ws_frames_coalesced",
        "ws_frames_coalesced",
        "Broadcast WebSocket frames written to sockets through coalesced writes",
    ),
    (
        "salon_ws_writes_coalesced",
        "ws_writes_coalesced",
        "Socket writes that carried those frames (one per socket per flush)",
    ),
)

# Cluster mode's relayed sockets since the process started (server/signaling/relay.py).
RELAY_COUNTERS = (
    ("salon_relayed_out", "out", "Sockets this node relayed to the room's owner node"),
    ("salon_relayed_in", "in", "Sockets another node relayed to this node"),
)

# Figures of one node: its id (None for this node's own ``/metrics``, unlabelled) and the
# dict its ``read`` returns.
Snapshot = tuple[str | None, dict[str, Any]]


class _Families:
    """Builds each family with one sample per node (a ``node`` label when named)."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self._snapshots = snapshots
        self._labelled = any(node is not None for node, _ in snapshots)

    def _labels(self, *extra: str) -> list[str]:
        return (["node"] if self._labelled else []) + list(extra)

    def _node(self, node: str | None) -> list[str]:
        return [node or ""] if self._labelled else []

    def one(self, kind: str, name: str, text: str, value: Callable[[dict[str, Any]], float]) -> Any:
        family_type = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
        family = family_type(name, text, labels=self._labels())
        for node, figures in self._snapshots:
            family.add_metric(self._node(node), value(figures))
        return family

    def by_role(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "salon_participants", "Participants in live rooms", labels=self._labels("role")
        )
        for node, figures in self._snapshots:
            for role, count in figures["participants"].items():
                family.add_metric([*self._node(node), role], count)
        return family


def _read(key: str, within: str = "") -> Callable[[dict[str, Any]], float]:
    """Reads ``key`` of a snapshot (of its ``within`` part), 0 when absent."""

    def read(figures: dict[str, Any]) -> float:
        part = figures.get(within, {}) if within else figures
        return float(part.get(key, 0))

    return read


def salon_families(snapshots: Sequence[Snapshot]) -> Iterator[Any]:
    """Salon's families for ``snapshots`` (one node's, or every node's)."""
    f = _Families(snapshots)
    yield f.one("gauge", "salon_rooms", "Live rooms on this node", lambda s: s["rooms"])
    yield f.by_role()
    yield f.one(
        "gauge", "salon_media_subscribers", "Subscribed video relay tracks",
        lambda s: s["subscribers"],
    )  # fmt: skip
    # Media's totals since the process started: true counters, whatever rooms close.
    for name, key, text in MEDIA_COUNTERS:
        yield f.one("counter", name, text, _read(key, "media"))
    for kind, name, key, text in EVENT_FIGURES:
        yield f.one(kind, name, text, _read(key))
    for name, key, text in SOCKET_COUNTERS:
        yield f.one("counter", name, text, _read(key))
    for name, key, text in RELAY_COUNTERS:
        yield f.one("counter", name, text, _read(key, "relays"))
    yield f.one(
        "gauge", "salon_event_loop_lag_seconds", "Last measured event-loop lag",
        lambda s: s["loop_lag"],
    )  # fmt: skip


class SalonCollector:
    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        yield from salon_families([(None, self._read())])


class ClusterCollector:
    """Every live node's snapshot, each sample with its ``node`` label."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("salon_nodes", "Live nodes", value=len(self._snapshots))
        yield from salon_families(self._snapshots)
        yield _Families(self._snapshots).one(
            "counter", "salon_node_cpu_seconds", "CPU time used by the node's process",
            _read("cpu_seconds"),
        )  # fmt: skip


def metrics_handler(
    read: Callable[[], dict[str, Any]],
    cluster: Callable[[], Awaitable[list[Snapshot]]] | None = None,
) -> Any:
    """``/metrics``: this node's figures (and its process's); ``?scope=cluster``: every
    live node's, from the snapshots they publish (``server/cluster/snapshots.py``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SalonCollector(read))
    # process_cpu_seconds_total, process_resident_memory_bytes, open fds (from /proc).
    ProcessCollector(registry=registry)

    async def handle(request: web.Request) -> web.Response:
        scope = request.query.get("scope", "node")
        if scope == "node":
            body = generate_latest(registry)
        elif scope == "cluster" and cluster is not None:
            try:
                snapshots = await cluster()
            except (RedisError, OSError, TimeoutError) as exc:
                return unavailable_response(request, exc)
            per_node = CollectorRegistry(auto_describe=False)
            per_node.register(ClusterCollector(snapshots))
            body = generate_latest(per_node)
        else:
            choices = "'node' or 'cluster'" if cluster is not None else "'node'"
            return error_response(
                400, "invalid_field", f"The scope must be {choices}.", field="scope"
            )
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
