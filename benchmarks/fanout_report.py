"""The fan-out benchmark's results: what one configuration measured, and the table.

``benchmarks.fanout`` fills ``Config``s (one relay at one subscriber count, a few
measurement ``Window``s each) and hands them to ``report``, which prints the table, the
frames every subscriber received, the packet path's added latency, and the ratios of
CPU per subscriber against the packet path, and returns the same figures for the JSON
file.
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass, field
from typing import Any

RELAYS = ("packets", "frames", "transcode", "janus")
SATURATED = 0.9  # share of the server's cores above which it cannot keep up
STARVED = 0.5  # a subscriber with less than this share of the publisher's frame rate
# How many times more CPU per subscriber than the packet path (issue 12's targets; Janus,
# in C, may be up to 3× cheaper).
TARGETS = {"frames": 2.5, "transcode": 60.0, "janus": 1 / 3}
LATENCY_TARGET_US = 2000.0  # added p95 at N = 100
NOISY = 0.10  # foreign load on the server's core that makes a figure suspect
E2E_GAIN_TARGET_MS = 30.0  # end-to-end p50: the packet path at least this below frames
PROBES = 8  # received frames that vote on a relay's timestamp shift


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
    bot_cores: int = 1
    # The packet path's added latency (µs) in this window: p50_us, p95_us, p99_us.
    latency: dict[str, float] = field(default_factory=dict)
    # CPU (cores) each subscriber-bot process used in this window.
    bot_cpu: list[float] = field(default_factory=list)
    # End-to-end video frame latency (ms) in this window, every subscriber's frames pooled:
    # p50_ms, p95_ms, and frames (how many were matched to the publisher's).
    e2e: dict[str, float] = field(default_factory=dict)
    # RTP packets a second the server itself sent to subscribers (0: it does not count).
    forwarded: float = 0.0

    @property
    def bots_limited(self) -> bool:
        """The bots were the limit: one bot process had a core to itself and used it, or
        the bot processes together filled their cores."""
        if not self.bot_cpu:
            return False
        return max(self.bot_cpu) >= SATURATED or sum(self.bot_cpu) >= SATURATED * self.bot_cores

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

    def latency(self, key: str) -> float | None:
        """The median over windows of one latency percentile (None: not measured)."""
        values = [w.latency[key] for w in self.windows if key in w.latency]
        return statistics.median(values) if values else None

    def e2e(self, key: str) -> float | None:
        """The median over windows of one end-to-end percentile (None: not measured)."""
        values = [w.e2e[key] for w in self.windows if key in w.e2e]
        return statistics.median(values) if values else None

    @property
    def decoded(self) -> bool:
        """True if a subscriber bot got decoded frames: pass-through was not in effect."""
        return any(s["decoded"] for w in self.windows for s in w.subscribers)

    def problems(self) -> list[str]:
        found = []
        if self.subscribers and self.windows:
            publisher = statistics.median(w.publisher_fps for w in self.windows)
            slowest = min(self.per_sub("video_frames"))
            if slowest < STARVED * publisher:
                found.append(
                    f"{self.relay} N={self.subscribers}: the slowest subscriber got"
                    f" {slowest:.1f} whole video frames a second of the publisher's"
                    f" {publisher:.1f} (starved: the relay, or its core, did not keep up)"
                )
        for w_index, window in enumerate(self.windows):
            if window.bots_limited:
                found.append(
                    f"{self.relay} N={self.subscribers}: the bot processes used"
                    f" {' + '.join(f'{c:.0%}' for c in window.bot_cpu)} of a core in window"
                    f" {w_index + 1} (the bots, not the server, were the limit)"
                )
            for kind in ("video", "audio"):
                starved = [s["who"] for s in window.subscribers if s[f"{kind}_frames"] <= 0]
                if starved:
                    who = ", ".join(starved[:3]) + (", …" if len(starved) > 3 else "")
                    found.append(
                        f"{self.relay} N={self.subscribers}: {len(starved)} subscriber(s)"
                        f" got no {kind} frames in window {w_index + 1} ({who})"
                    )
        return found


# --- end-to-end latency -----------------------------------------------------------------


def _offset(sent: dict[int, float], received: list[tuple[int, float]]) -> int | None:
    """The relay's timestamp shift: the one most of the first received frames agree on.

    A wrong shift by k frames matches a frame only where two random pts nudges coincide
    (1 in 90), so the true shift wins with every probe frame that was sent.
    """
    votes: collections.Counter[int] = collections.Counter()
    for ts, _ in received[:PROBES]:
        votes.update((ts - pts) & 0xFFFFFFFF for pts in sent)
    if not votes:
        return None
    offset, count = votes.most_common(1)[0]
    return offset if count >= min(3, len(received)) else None


def frame_latencies(
    sent: list[tuple[int, float]], received: list[tuple[int, float]]
) -> list[float]:
    """Seconds from each frame's capture at the publisher (pts, time) to its arrival,
    complete, at one subscriber (RTP timestamp, time): the frames found in both."""
    by_pts = {pts & 0xFFFFFFFF: at for pts, at in sent}
    offset = _offset(by_pts, received)
    if offset is None:
        return []
    found = []
    for ts, arrived in received:
        captured = by_pts.get((ts - offset) & 0xFFFFFFFF)
        if captured is not None:
            found.append(arrived - captured)
    return found


def e2e_percentiles(
    sent: list[tuple[int, float]], received: list[list[tuple[int, float]]]
) -> dict[str, float]:
    """p50/p95 (ms) of every subscriber's frame latencies pooled, and how many frames."""
    points = sorted(x for frames in received for x in frame_latencies(sent, frames))
    if not points:
        return {}

    def pick(q: float) -> float:
        return round(points[min(len(points) - 1, int(q * len(points)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "frames": float(len(points))}


# --- report -----------------------------------------------------------------------------


def per_packet_us(configs: list[Config]) -> dict[int, float]:
    """Marginal CPU per packet forwarded to one subscriber (µs): each N's CPU per
    subscriber over the packets a second the server sent each subscriber (Salon's paths
    count them; for the others, what each subscriber received, video + audio).

    Unlike CPU per subscriber, this does not fall when a loaded machine slows the
    publisher's encoder (fewer packets to forward), so runs on different days compare.
    """
    found: dict[int, float] = {}
    for count, cpu in per_subscriber(configs).items():
        config = next(c for c in configs if c.subscribers == count)
        rate = statistics.median(w.forwarded for w in config.windows) / count
        if rate <= 0:  # a relay that does not count what it sends: what the bots got
            rate = statistics.mean(config.per_sub("video_packets"))
            rate += statistics.mean(config.per_sub("audio_frames"))  # one Opus frame a packet
        if rate > 0:
            found[count] = cpu / rate * 1e6
    return found


def per_subscriber(configs: list[Config]) -> dict[int, float]:
    base = next(c for c in configs if c.subscribers == 0).cpu
    return {c.subscribers: (c.cpu - base) / c.subscribers for c in configs if c.subscribers}


def strain(config: Config, server_cores: int) -> str:
    """Why this configuration under-measures its relay's cost, or "" if it does not."""
    if config.cpu >= SATURATED * server_cores:
        return "SATURATED"
    if any(w.bots_limited for w in config.windows):
        return "BOTS LIMITED"
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
        f"{'relay':<10}{'N':>4}  {'server CPU median [range]':<27}{'per sub':>9}{'µs/pkt':>8}"
        f"{'fps/sub':>9}{'kbps/sub':>10}{'pub kbps':>10}{'other':>7}{'bots':>6}{'bot CPU':>9}"
    )
    per_sub = {relay: per_subscriber(configs) for relay, configs in results.items()}
    per_packet = {relay: per_packet_us(configs) for relay, configs in results.items()}
    for relay, configs in results.items():
        for config in configs:
            cpus = [w.server_cpu for w in config.windows]
            spread = f"{config.cpu:6.1%} [{min(cpus):.1%}–{max(cpus):.1%}]"
            pub_kbps = statistics.median(w.publisher_kbps for w in config.windows)
            line = f"{relay:<10}{config.subscribers:>4}  {spread:<27}"
            if config.subscribers:
                fps = statistics.median(config.per_sub("video_frames"))
                kbps = statistics.median(config.per_sub("video_bytes", 8 / 1000))
                packet = per_packet[relay].get(config.subscribers)
                cost = f"{packet:>8.1f}" if packet is not None else f"{'–':>8}"
                line += f"{per_sub[relay][config.subscribers]:>9.2%}{cost}{fps:>9.1f}{kbps:>10.0f}"
            else:
                line += f"{'–':>9}{'–':>8}{'–':>9}{'–':>10}"
            other = statistics.median(w.foreign_load for w in config.windows)
            bots = statistics.median(w.bot_cores_busy for w in config.windows)
            bot_cpu = statistics.median(sum(w.bot_cpu) for w in config.windows)
            line += f"{pub_kbps:>10.0f}{other:>7.0%}{bots:>6.0%}{bot_cpu:>9.0%}"
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
    latency = latency_table(results)
    e2e = e2e_table(results)
    slopes = {relay: fitted_slope(configs, server_cores) for relay, configs in results.items()}
    summary: dict[str, Any] = {
        "per_subscriber_cpu": per_sub,
        "per_packet_us": per_packet,
        "fitted_slope": slopes,
        "added_latency_us": latency,
        "end_to_end_ms": e2e,
    }
    return {**summary, **ratio_table(per_sub, slopes)}


def latency_table(results: dict[str, list[Config]]) -> dict[str, dict[int, dict[str, float]]]:
    """Print and return the added latency per N, for the relays that measured it."""
    table: dict[str, dict[int, dict[str, float]]] = {}
    for relay, configs in results.items():
        for config in configs:
            row: dict[str, float] = {}
            for key in ("p50_us", "p95_us", "p99_us", "cpu_per_send_us"):
                value = config.latency(key)
                if value is not None:
                    row[key] = value
            if config.subscribers and len(row) >= 3:
                table.setdefault(relay, {})[config.subscribers] = row
    if table:
        print(
            "\nadded forwarding latency (handler entry → each subscriber's sendto), µs;"
            " cpu/send: the server thread's CPU in the fan-out per send (not inflated by"
            " preemption)"
        )
        for relay, rows in table.items():
            for count, row in rows.items():
                mark = ""
                if count >= 100:
                    ok = row["p95_us"] <= LATENCY_TARGET_US
                    mark = f"  target p95 ≤ {LATENCY_TARGET_US:.0f} µs {'met' if ok else 'NOT met'}"
                cpu = row.get("cpu_per_send_us")
                per_send = f"  cpu/send {cpu:5.2f}" if cpu is not None else ""
                print(
                    f"  {relay:<9} N={count:<3} p50 {row['p50_us']:7.1f}  p95 {row['p95_us']:7.1f}"
                    f"  p99 {row['p99_us']:7.1f}{per_send}{mark}"
                )
    return table


def e2e_table(results: dict[str, list[Config]]) -> dict[str, dict[int, dict[str, float]]]:
    """Print and return the end-to-end video latency per relay and N, and the packet
    path's gain over the frame path at each N both measured."""
    table: dict[str, dict[int, dict[str, float]]] = {}
    for relay, configs in results.items():
        for config in configs:
            p50, p95 = config.e2e("p50_ms"), config.e2e("p95_ms")
            if config.subscribers and p50 is not None and p95 is not None:
                table.setdefault(relay, {})[config.subscribers] = {"p50_ms": p50, "p95_ms": p95}
    if not table:
        return table
    print(
        "\nend-to-end video latency (publisher's frame capture, before its VP8 encode →"
        " subscriber's complete frame), ms:"
    )
    for relay, rows in table.items():
        cells = "  ".join(
            f"N={n}: p50 {row['p50_ms']:.1f} p95 {row['p95_ms']:.1f}" for n, row in rows.items()
        )
        print(f"  {relay:<9} {cells}")
    packets, frames = table.get("packets", {}), table.get("frames", {})
    for n in sorted(set(packets) & set(frames)):
        gain = frames[n]["p50_ms"] - packets[n]["p50_ms"]
        met = "met" if gain >= E2E_GAIN_TARGET_MS else "NOT met"
        print(
            f"  packets vs frames N={n}: p50 {gain:+.1f} ms lower"
            f" (target ≥ {E2E_GAIN_TARGET_MS:.0f} ms: {met})"
        )
    return table


def ratio_table(
    per_sub: dict[str, dict[int, float]], slopes: dict[str, float | None]
) -> dict[str, Any]:
    """Print and return each relay's marginal CPU per subscriber against the packet path."""
    base = slopes.get("packets")
    print("\nmarginal CPU per subscriber (least-squares slope over the N that kept up):")
    headline: dict[str, Any] = {}
    for relay in RELAYS:
        slope = slopes.get(relay)
        if slope is None:
            print(f"  {relay:<9}  not measured in this run")
            continue
        line = f"  {relay:<9} {slope:7.3%} of a core"
        if relay != "packets" and base and base > 0:
            ratio = slope / base
            target = TARGETS.get(relay)
            verdict = ""
            if target is not None:
                verdict = f" (target ≥{target:.2g}×: {'met' if ratio >= target else 'NOT met'})"
            line += f"  = {ratio:5.1f}× the packet path{verdict}"
            headline[relay] = {
                "ratio": ratio,
                "target": target,
                "met": target is not None and ratio >= target,
            }
        print(line)
    ratios_at_n: dict[str, dict[int, float | None]] = {}
    for relay, values in per_sub.items():
        if relay == "packets":
            continue
        common = sorted(set(values) & set(per_sub.get("packets", {})))
        ratios_at_n[relay] = {
            n: (values[n] / per_sub["packets"][n] if per_sub["packets"][n] > 0 else None)
            for n in common
        }
    return {"ratios_at_n": ratios_at_n, "headline": headline}


def packet_rate(configs: list[Config]) -> tuple[float, float] | None:
    """Packets a second the server sent one subscriber, and their mean size in bytes
    (payload and a 12-byte header), at the largest N of a relay that counts what it sends
    (the packet path)."""
    counted = [c for c in configs if c.subscribers and c.windows]
    if not counted:
        return None
    config = max(counted, key=lambda c: c.subscribers)
    rate = statistics.median(w.forwarded for w in config.windows) / config.subscribers
    if rate <= 0:
        return None
    bytes_per_s = statistics.median(config.per_sub("video_bytes")) + statistics.median(
        config.per_sub("audio_bytes")
    )
    return rate, bytes_per_s / rate + 12


def floor_table(floor_us: float, rate: float, slopes: dict[str, float | None]) -> dict[str, Any]:
    """Print each target against the floor: the CPU per subscriber that one protect and
    one ``sendto`` per packet cost at the packet path's rate, before any forwarding code."""
    floor = floor_us * rate / 1e6
    print(
        f"\nthe floor: one SRTP protect + one sendto a packet, from C, {floor_us:.2f} µs × "
        f"{rate:.0f} packets/s = {floor:.3%} of a core per subscriber (benchmarks.send_floor,"
        " this run)"
    )
    found: dict[str, Any] = {"floor_us": floor_us, "rate": rate, "floor_share": floor}
    base = slopes.get("packets")
    if base is not None:
        where = "above" if base >= floor else "below"
        print(f"  packets    {base:7.3%}: {abs(base - floor):.3%} {where} the floor")
        found["packets_above_floor"] = base - floor
    for relay, target in TARGETS.items():
        slope = slopes.get(relay)
        if slope is None or target < 1:
            continue
        needed = slope / target
        reachable = needed > floor
        print(
            f"  {relay:<9} {slope:7.3%}: {target:g}× cheaper is {needed:.3%}, "
            + (
                f"{needed - floor:.3%} above the floor"
                if reachable
                else f"{floor - needed:.3%} BELOW the floor: no forwarder that protects"
                " and sends each packet reaches it on this machine"
            )
        )
        found[relay] = {"needed": needed, "reachable": reachable}
    return found
