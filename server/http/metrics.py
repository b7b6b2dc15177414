"""The ``/metrics`` endpoint: Prometheus figures read from live state at scrape time.

A registry per application (no module-level state): rooms, participants, media (the
process's totals: frames and packets in; frames, RTP packets and bytes forwarded;
keyframe requests, retransmissions, task failures), the event buffer, event-loop lag
measured by a small background task, and the process's CPU time and memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST


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


def media_counters(totals: dict[str, int]) -> Iterator[CounterMetricFamily]:
    """Media's totals since the process started: true counters, whatever rooms close."""
    for name, key, text in MEDIA_COUNTERS:
        yield CounterMetricFamily(name, text, value=totals.get(key, 0))


class SalonCollector:
    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        s = self._read()
        yield GaugeMetricFamily("salon_rooms", "Live rooms on this node", value=s["rooms"])
        participants = GaugeMetricFamily(
            "salon_participants", "Participants in live rooms", labels=["role"]
        )
        for role, count in s["participants"].items():
            participants.add_metric([role], count)
        yield participants
        yield GaugeMetricFamily(
            "salon_media_subscribers", "Subscribed video relay tracks", value=s["subscribers"]
        )
        yield from media_counters(s.get("media", {}))
        yield GaugeMetricFamily(
            "salon_event_buffer_depth",
            "Events waiting to be written to Redis",
            value=s["event_buffer"],
        )
        yield CounterMetricFamily(
            "salon_events_written", "Events written to Redis", value=s["events_written"]
        )
        yield GaugeMetricFamily(
            "salon_event_spill_depth",
            "Events waiting in the disk spill (Redis slow or down)",
            value=s.get("event_spill", 0),
        )
        yield CounterMetricFamily(
            "salon_events_spilled",
            "Events sent to the disk spill",
            value=s.get("events_spilled", 0),
        )
        yield CounterMetricFamily(
            "salon_events_journalled",
            "Events written and fsynced to the local journal",
            value=s.get("events_journalled", 0),
        )
        yield GaugeMetricFamily(
            "salon_event_journal_lag",
            "Events recorded but not yet in the journal (at most journal_interval old)",
            value=s.get("event_journal_lag", 0),
        )
        yield CounterMetricFamily(
            "salon_events_dropped",
            "Events lost: memory and spill both full",
            value=s.get("events_dropped", 0),
        )
        yield GaugeMetricFamily(
            "salon_event_loop_lag_seconds", "Last measured event-loop lag", value=s["loop_lag"]
        )


def metrics_handler(read: Callable[[], dict[str, Any]]) -> Any:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SalonCollector(read))
    # process_cpu_seconds_total, process_resident_memory_bytes, open fds (from /proc).
    ProcessCollector(registry=registry)

    async def handle(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
