"""The fan-out benchmark's results: what one configuration measured, and the table.

``loadtest.fanout`` fills ``Config``s (one relay at one subscriber count, a few
measurement ``Window``s each) and hands them to ``report``, which prints the table, the
frames every subscriber received, and the transcode / forward ratio of CPU per
subscriber, and returns the same figures for the JSON file.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

RELAYS = ("forward", "transcode")
SATURATED = 0.9  # share of the server's cores above which it cannot keep up
TARGET_RATIO = 20.0
NOISY = 0.10  # foreign load on the server's core that makes a figure suspect


@dataclass
class Window:
    seconds: float
    server_cpu: float  # cores (1.0 = one core busy for the whole window)
    publisher_fps: float
    publisher_kbps: float
    subscribers: list[dict[str, Any]]  # per subscriber: frames and bytes in this window
    # Busy share of the server's and the bots' cores, whoever used them (noise check).
    server_cores_busy: float = 0.0
    bot_cores_busy: float = 0.0

    @property
    def foreign_load(self) -> float:
        """CPU that other processes took from the server's cores during the window."""
        return max(0.0, self.server_cores_busy - self.server_cpu)


@dataclass
class Config:
    relay: str
    subscribers: int
    settle: str = "settled"  # or "saturated"/"timeout": measured below full bitrate
    windows: list[Window] = field(default_factory=list)

    @property
    def cpu(self) -> float:
        return statistics.median(w.server_cpu for w in self.windows)

    def per_sub(self, key: str, scale: float = 1.0) -> list[float]:
        """Per subscriber, the median over windows of ``key`` per second times ``scale``."""
        count = self.subscribers
        return [
            statistics.median(w.subscribers[i][key] * scale / w.seconds for w in self.windows)
            for i in range(count)
        ]

    def total_frames(self, kind: str) -> list[int]:
        return [
            sum(w.subscribers[i][f"{kind}_frames"] for w in self.windows)
            for i in range(self.subscribers)
        ]

    @property
    def decoded(self) -> bool:
        """True if a subscriber bot got decoded frames: pass-through was not in effect."""
        return any(s["decoded"] for w in self.windows for s in w.subscribers)

    def problems(self) -> list[str]:
        found = []
        for w_index, window in enumerate(self.windows):
            for sub in window.subscribers:
                for kind in ("video", "audio"):
                    if sub[f"{kind}_frames"] <= 0:
                        found.append(
                            f"{self.relay} N={self.subscribers}: {sub['who']} got no "
                            f"{kind} frames in window {w_index + 1}"
                        )
        return found


# --- report -----------------------------------------------------------------------------


def per_subscriber(configs: list[Config]) -> dict[int, float]:
    base = next(c for c in configs if c.subscribers == 0).cpu
    return {c.subscribers: (c.cpu - base) / c.subscribers for c in configs if c.subscribers}


def strain(config: Config, server_cores: int) -> str:
    """Why this configuration under-measures its relay's cost, or "" if it does not."""
    if config.cpu >= SATURATED * server_cores:
        return "SATURATED"
    if config.subscribers:
        publisher = statistics.median(w.publisher_fps for w in config.windows)
        if min(config.per_sub("video_frames")) < SATURATED * publisher:
            return "SUBSCRIBERS LAG"
    return ""


def fitted_slope(configs: list[Config], server_cores: int) -> float | None:
    """Least-squares CPU per subscriber over every configuration that kept up."""
    points = [(c.subscribers, c.cpu) for c in configs if not strain(c, server_cores)]
    if len({n for n, _ in points}) < 2:
        return None
    return statistics.linear_regression([n for n, _ in points], [y for _, y in points]).slope


def report(results: dict[str, list[Config]], server_cores: int) -> dict[str, Any]:
    print(
        f"{'relay':<10}{'N':>4}  {'server CPU median [range]':<27}{'per sub':>9}"
        f"{'fps/sub':>9}{'kbps/sub':>10}{'pub kbps':>10}{'other':>7}{'bots':>6}"
    )
    per_sub = {relay: per_subscriber(configs) for relay, configs in results.items()}
    for relay, configs in results.items():
        for config in configs:
            cpus = [w.server_cpu for w in config.windows]
            spread = f"{config.cpu:6.1%} [{min(cpus):.1%}–{max(cpus):.1%}]"
            pub_kbps = statistics.median(w.publisher_kbps for w in config.windows)
            line = f"{relay:<10}{config.subscribers:>4}  {spread:<27}"
            if config.subscribers:
                fps = statistics.median(config.per_sub("video_frames"))
                kbps = statistics.median(config.per_sub("video_bytes", 8 / 1000))
                line += f"{per_sub[relay][config.subscribers]:>9.2%}{fps:>9.1f}{kbps:>10.0f}"
            else:
                line += f"{'–':>9}{'–':>9}{'–':>10}"
            other = statistics.median(w.foreign_load for w in config.windows)
            bots = statistics.median(w.bot_cores_busy for w in config.windows)
            line += f"{pub_kbps:>10.0f}{other:>7.0%}{bots:>6.0%}"
            line += f"  {strain(config, server_cores)}".rstrip()
            line += "  (bitrate not settled)" if config.settle == "timeout" else ""
            print(line)
    print("\nframes each subscriber received over the measured windows (video / audio):")
    for configs in results.values():
        for config in configs:
            if config.subscribers:
                pairs = zip(config.total_frames("video"), config.total_frames("audio"), strict=True)
                print(
                    f"  {config.relay:<9} N={config.subscribers:<3} "
                    + " ".join(f"{v}/{a}" for v, a in pairs)
                )
    slopes = {relay: fitted_slope(configs, server_cores) for relay, configs in results.items()}
    summary: dict[str, Any] = {"per_subscriber_cpu": per_sub, "fitted_slope": slopes}
    if set(results) != set(RELAYS):
        return summary
    ratios: dict[int, float] = {}
    common = sorted(set(per_sub["forward"]) & set(per_sub["transcode"]))
    for count in common:
        forward = per_sub["forward"][count]
        ratios[count] = per_sub["transcode"][count] / forward if forward > 0 else float("inf")
    print(
        "\nper-subscriber CPU, transcode / forward:  "
        + "  ".join(f"N={n}: {r:.1f}×" for n, r in ratios.items())
    )
    headline: dict[str, Any] = {}
    forward_slope, transcode_slope = slopes["forward"], slopes["transcode"]
    if forward_slope and transcode_slope and forward_slope > 0:
        # The headline is the marginal cost of one more subscriber, fitted over every N that
        # kept up: a single small N divides a few tenths of a percent of CPU by 5 and is
        # dominated by measurement noise and per-room fixed costs.
        slope_ratio = transcode_slope / forward_slope
        verdict = "met" if slope_ratio >= TARGET_RATIO else "NOT met"
        print(
            f"least-squares slope over the N that kept up: forward {forward_slope:.2%},"
            f" transcode {transcode_slope:.2%} per subscriber → {slope_ratio:.1f}×"
        )
        print(
            f"headline (marginal CPU per subscriber): forward is {slope_ratio:.1f}× cheaper;"
            f" target ≥{TARGET_RATIO:.0f}× {verdict}"
        )
        headline = {
            "method": "least-squares slope of server CPU over subscribers",
            "ratio": slope_ratio,
            "ratios_at_n": {n: r for n, r in ratios.items() if math.isfinite(r)},
            "target": TARGET_RATIO,
            "met": slope_ratio >= TARGET_RATIO,
        }
    finite = {n: r if math.isfinite(r) else None for n, r in ratios.items()}  # valid JSON
    return {**summary, "ratios": finite, "headline": headline}
