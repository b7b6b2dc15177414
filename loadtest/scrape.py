"""The server's side of a run, read from its Prometheus endpoint (``/metrics``).

A ``MetricsSampler`` reads ``/metrics`` about once a second while the run lasts and
keeps each sample flat (``name{label=value}`` → number). From the samples it derives
the server process's CPU (``process_cpu_seconds_total``, share of one core), its
memory, participants, forwarded packets and bytes, the event buffer and loop lag over
time, and the CPU over any window (for CPU per media subscriber). Works against any
server the load tester can reach; a failed read is counted, not fatal.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT = 3.0

CPU = "process_cpu_seconds_total"
RSS = "process_resident_memory_bytes"


def parse(text: str) -> dict[str, float]:
    """Prometheus text → ``{"name{k=v,...}": value}`` (labels sorted; none: bare name)."""
    flat: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            flat[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return flat


@dataclass
class Sample:
    t: float  # seconds since the run's start
    values: dict[str, float]

    def get(self, name: str, default: float = 0.0) -> float:
        return self.values.get(name, default)

    @property
    def participants(self) -> float:
        return sum(v for k, v in self.values.items() if k.startswith("salon_participants{"))


@dataclass
class MetricsSampler:
    url: str  # the server's base URL
    t0: float = field(default_factory=time.time)
    samples: list[Sample] = field(default_factory=list)
    failures: int = 0
    last_error: str = ""

    async def read(self, session: aiohttp.ClientSession, keep: bool = True) -> Sample | None:
        """Read ``/metrics`` once; ``keep`` adds the sample to the run's (not after it)."""
        try:
            timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
            async with session.get(f"{self.url.rstrip('/')}/metrics", timeout=timeout) as resp:
                resp.raise_for_status()
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        sample = Sample(time.time() - self.t0, parse(text))
        if keep:
            self.samples.append(sample)
        return sample

    async def read_forever(self, session: aiohttp.ClientSession, period: float = 1.0) -> None:
        while True:
            started = time.monotonic()
            await self.read(session)
            await asyncio.sleep(max(0.05, period - (time.monotonic() - started)))

    # --- derived figures ----------------------------------------------------------------

    def cpu_between(self, start: float, end: float) -> float | None:
        """The server's CPU (share of one core) from the samples nearest ``start``/``end``."""
        inside = [s for s in self.samples if start <= s.t <= end and CPU in s.values]
        if len(inside) < 2 or inside[-1].t - inside[0].t <= 0:
            return None
        first, last = inside[0], inside[-1]
        return (last.get(CPU) - first.get(CPU)) / (last.t - first.t)

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """Per-sample series for the report: CPU share, RSS MiB, participants, packets/s…"""
        out: dict[str, list[tuple[float, float]]] = {
            "cpu": [],
            "rss_mib": [],
            "participants": [],
            "forwarded_packets_per_s": [],
            "forwarded_mbit_per_s": [],
            "event_buffer": [],
            "loop_lag_ms": [],
        }
        for before, after in zip(self.samples, self.samples[1:], strict=False):
            dt = after.t - before.t
            if dt <= 0:
                continue
            t = round(after.t, 2)
            if CPU in after.values and CPU in before.values:
                out["cpu"].append((t, (after.get(CPU) - before.get(CPU)) / dt))
            packets = "salon_media_forwarded_packets_total"
            if packets in after.values:
                delta = after.get(packets) - before.get(packets)
                out["forwarded_packets_per_s"].append((t, max(0.0, delta) / dt))
                sent = after.get("salon_media_forwarded_bytes_total") - before.get(
                    "salon_media_forwarded_bytes_total"
                )
                out["forwarded_mbit_per_s"].append((t, max(0.0, sent) * 8 / 1e6 / dt))
        for sample in self.samples:
            t = round(sample.t, 2)
            if RSS in sample.values:
                out["rss_mib"].append((t, sample.get(RSS) / 2**20))
            out["participants"].append((t, sample.participants))
            out["event_buffer"].append((t, sample.get("salon_event_buffer_depth")))
            out["loop_lag_ms"].append((t, sample.get("salon_event_loop_lag_seconds") * 1000))
        return out

    def summary(self) -> dict[str, Any]:
        series = self.series()

        def peak(name: str) -> float | None:
            values = [v for _, v in series[name]]
            return round(max(values), 3) if values else None

        def mean(name: str) -> float | None:
            values = [v for _, v in series[name]]
            return round(sum(values) / len(values), 3) if values else None

        def p99(name: str) -> float | None:
            values = sorted(v for _, v in series[name])
            return (
                round(values[min(len(values) - 1, int(0.99 * len(values)))], 3) if values else None
            )

        last = self.samples[-1] if self.samples else None

        def grown(name: str) -> float | None:
            # The server's counters count since it started: this run's share is the growth.
            return last.get(name) - self.samples[0].get(name) if last else None

        return {
            "samples": len(self.samples),
            "failed_reads": self.failures,
            "last_error": self.last_error or None,
            "cpu_mean": mean("cpu"),
            "cpu_peak": peak("cpu"),
            "rss_mib_peak": peak("rss_mib"),
            "participants_peak": peak("participants"),
            "event_buffer_peak": peak("event_buffer"),
            "loop_lag_ms_peak": peak("loop_lag_ms"),
            # Of the lag the server last measured, read at every scrape (once a second).
            "loop_lag_ms_p99": p99("loop_lag_ms"),
            "forwarded_packets": grown("salon_media_forwarded_packets_total"),
            "forwarded_bytes": grown("salon_media_forwarded_bytes_total"),
            "events_written": last.get("salon_events_written_total") if last else None,
        }
