"""What bots measure, and how figures from many processes add up.

- ``Histogram``: latencies in log-spaced buckets (2 % wide, from 10 µs up), so that
  millions of samples cost a few hundred integers and histograms from several
  processes merge by adding counts. Percentiles are read to within a bucket (±1 %);
  count, sum, min and max are exact.
- ``Recorder``: one per bot process. Counters, latency histograms, per-second series
  (seconds since the run's start, on the wall clock every process shares), marks
  (named moments whose latency is only known once the sender's and the receivers' sides
  meet in the orchestrator), and per-bot media gauges. ``take()`` hands over everything
  recorded since the last call and starts afresh: the orchestrator merges these deltas.
- ``Totals``: the orchestrator's merge of every delta, with marks matched up.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, defaultdict
from typing import Any

BASE_MS = 0.01
RATIO = 1.02
_LOG_RATIO = math.log(RATIO)
PERCENTILES = (50, 90, 95, 99)


class Histogram:
    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def add(self, ms: float) -> None:
        ms = max(0.0, ms)
        index = 0 if ms <= BASE_MS else int(math.log(ms / BASE_MS) / _LOG_RATIO) + 1
        self.buckets[index] += 1
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @staticmethod
    def _value(index: int) -> float:
        if index == 0:
            return BASE_MS
        return float(BASE_MS * RATIO ** (index - 0.5))  # the bucket's geometric middle

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.max, max(self.min, self._value(index)))
        return self.max

    def summary(self) -> dict[str, Any]:
        """count, mean, min, p50, p90, p95, p99, max (milliseconds, rounded to 0.01)."""
        if not self.count:
            return {"count": 0}
        out: dict[str, Any] = {"count": self.count, "mean": round(self.total / self.count, 2)}
        out["min"] = round(self.min, 2)
        for q in PERCENTILES:
            out[f"p{q}"] = round(self.percentile(q) or 0.0, 2)
        out["max"] = round(self.max, 2)
        return out

    def bins(self) -> list[tuple[float, float, int]]:
        """(low ms, high ms, count) per non-empty bucket, ascending: for plots."""
        out = []
        for index in sorted(self.buckets):
            low = 0.0 if index == 0 else BASE_MS * RATIO ** (index - 1)
            out.append((low, BASE_MS * RATIO**index, self.buckets[index]))
        return out

    def to_wire(self) -> dict[str, Any]:
        return {
            "b": dict(self.buckets),
            "n": self.count,
            "s": self.total,
            "lo": self.min if self.count else 0.0,
            "hi": self.max,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.buckets.update({int(k): v for k, v in data["b"].items()})
        hist.count, hist.total = data["n"], data["s"]
        hist.min = data["lo"] if hist.count else math.inf
        hist.max = data["hi"]
        return hist


class Recorder:
    """A bot process's figures since the last ``take()``."""

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.time() if t0 is None else t0
        self._reset()

    def _reset(self) -> None:
        self.counters: Counter[str] = Counter()
        self.hists: dict[str, Histogram] = defaultdict(Histogram)
        self.series: dict[str, Counter[int]] = defaultdict(Counter)
        self.series_hists: dict[str, dict[int, Histogram]] = defaultdict(
            lambda: defaultdict(Histogram)
        )
        self.marks_sent: list[tuple[str, float]] = []
        self.marks_seen: list[tuple[str, float]] = []
        self.gauges: dict[str, dict[str, float]] = {}

    def second(self, when: float | None = None) -> int:
        return max(0, int((time.time() if when is None else when) - self.t0))

    def count(self, name: str, n: int = 1, series: str | None = None) -> None:
        self.counters[name] += n
        if series is not None:
            self.series[series][self.second()] += n

    def latency(self, name: str, ms: float, series: str | None = None) -> None:
        self.hists[name].add(ms)
        if series is not None:
            self.series_hists[series][self.second()].add(ms)

    def mark_sent(self, key: str, when: float | None = None) -> None:
        self.marks_sent.append((key, time.time() if when is None else when))

    def mark_seen(self, key: str, when: float | None = None) -> None:
        self.marks_seen.append((key, time.time() if when is None else when))

    def gauge(self, who: str, values: dict[str, float]) -> None:
        self.gauges[who] = values

    def take(self) -> dict[str, Any]:
        delta = {
            "counters": dict(self.counters),
            "hists": {k: h.to_wire() for k, h in self.hists.items()},
            "series": {k: dict(v) for k, v in self.series.items()},
            "series_hists": {
                k: {s: h.to_wire() for s, h in v.items()} for k, v in self.series_hists.items()
            },
            "marks_sent": self.marks_sent,
            "marks_seen": self.marks_seen,
            "gauges": self.gauges,
        }
        self._reset()
        return delta


class Totals:
    """Every process's deltas merged; marks matched into ``delivery:<kind>`` latencies.

    A seen mark ``kind:key`` is matched with the latest sent mark of the same name at or
    before it (the same person may go on stage twice). Every process reports about once a
    second, so a seen mark is matched only once it is ``MARK_SETTLE`` old: by then the
    sent mark it answers has arrived, even from another process (matched earlier, a
    repeated invitation would be paired with the previous one). ``flush`` matches the
    rest at the end of a run.
    """

    MARK_SLACK = 0.002  # seconds: the clock is shared, but stamps come from other processes
    MARK_MAX_AGE = 30.0  # a sent mark older than this explains nothing
    MARK_SETTLE = 2.5  # seconds a seen mark waits for the sent marks of other processes

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.hists: dict[str, Histogram] = defaultdict(Histogram)
        self.series: dict[str, Counter[int]] = defaultdict(Counter)
        self.series_hists: dict[str, dict[int, Histogram]] = defaultdict(
            lambda: defaultdict(Histogram)
        )
        self.gauges: dict[str, dict[str, float]] = {}
        self._sent: dict[str, list[float]] = defaultdict(list)
        self._waiting: list[tuple[str, float]] = []
        self._t0 = 0.0

    def start(self, t0: float) -> None:
        self._t0 = t0

    def merge(self, delta: dict[str, Any]) -> None:
        self.counters.update(delta["counters"])
        for name, wire in delta["hists"].items():
            self.hists[name].merge(Histogram.from_wire(wire))
        for name, per_second in delta["series"].items():
            self.series[name].update({int(s): n for s, n in per_second.items()})
        for name, per_second in delta["series_hists"].items():
            for sec, wire in per_second.items():
                self.series_hists[name][int(sec)].merge(Histogram.from_wire(wire))
        self.gauges.update(delta["gauges"])
        for key, when in delta["marks_sent"]:
            bisect.insort(self._sent[key], when)
        self._match(self._waiting + [(str(k), float(t)) for k, t in delta["marks_seen"]])

    def flush(self) -> None:
        """Match every waiting seen mark now (the run is over: nothing more will come)."""
        self._match(self._waiting, final=True)

    def _match(self, seen: list[tuple[str, float]], final: bool = False) -> None:
        self._waiting = []
        ripe = time.time() - self.MARK_SETTLE
        for key, when in seen:
            if not final and when > ripe:
                self._waiting.append((key, when))
                continue
            times = self._sent.get(key) or []
            index = bisect.bisect_right(times, when + self.MARK_SLACK)
            if index == 0 or when - times[index - 1] > self.MARK_MAX_AGE:
                self._waiting.append((key, when))
                continue
            ms = max(0.0, (when - times[index - 1]) * 1000)
            name = "delivery:" + key.split(":", 1)[0]
            self.hists[name].add(ms)
            self.series_hists["delivery"][max(0, int(when - self._t0))].add(ms)

    @property
    def unmatched(self) -> int:
        return len(self._waiting)

    def gauge_sum(self, field: str, prefix: str = "") -> float:
        return sum(g.get(field, 0.0) for who, g in self.gauges.items() if who.startswith(prefix))
