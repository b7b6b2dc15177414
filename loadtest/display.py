"""What the load tester sees while a run goes, and the summary printed at its end.

On a terminal the live view is a ``rich`` panel refreshed every second: phase and time,
bots connected / joined / failed, messages per second, join and delivery latency so
far, media reception and loss, the server's CPU and memory, and the most frequent error
codes. Without a terminal (CI, a pipe) it prints one line every few seconds instead.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtest.stats import Histogram

if TYPE_CHECKING:
    from loadtest.runner import Run

PLAIN_EVERY = 5.0


def _rate(series: dict[int, int], now_second: int, span: int = 3) -> float:
    seconds = range(max(0, now_second - span), now_second)
    return sum(series.get(s, 0) for s in seconds) / max(1, len(seconds))


def _ms(hist: Histogram, q: float) -> str:
    value = hist.percentile(q)
    return "–" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def figures(run: Run) -> dict[str, Any]:
    """The live figures, also used for the plain-text progress lines."""
    totals, c = run.totals, run.totals.counters
    second = max(0, int(time.time() - run.started)) if run.started else 0
    delivery = Histogram()
    for name, hist in totals.hists.items():
        if name.startswith("delivery:"):
            delivery.merge(hist)
    errors = sorted(
        ((k[6:], v) for k, v in c.items() if k.startswith("error:") and v),
        key=lambda kv: -kv[1],
    )
    out: dict[str, Any] = {
        "elapsed": run.elapsed,
        "planned": run.plan.members + (run.plan.host is not None),
        "connected": c["sockets:open"],
        "joined": c["join:ok"],
        "failed": c["join:failed"],
        "dropped": c["dropped"],
        "sent_per_s": _rate(totals.series["sent"], second),
        "received_per_s": _rate(totals.series["received"], second),
        "join": f"{_ms(totals.hists['join'], 50)} / {_ms(totals.hists['join'], 95)}",
        "delivery": f"{_ms(delivery, 50)} / {_ms(delivery, 95)} / {_ms(delivery, 99)}",
        "errors": ", ".join(f"{k} ×{v}" for k, v in errors[:4]) or "none",
    }
    if run.media_series:
        _, packets, expected, lost, receiving = run.media_series[-1]
        media = sum(1 for g in totals.gauges.values() if g.get("media"))
        loss = f"{lost / expected:.2%}" if expected else "–"
        out["media"] = (
            f"{int(receiving)}/{media} receiving video, {int(packets):,} packets, loss {loss}"
        )
    sampler = run.sampler
    if sampler is not None and sampler.samples:
        series = sampler.series()
        cpu = series["cpu"][-1][1] if series["cpu"] else None
        rss = series["rss_mib"][-1][1] if series["rss_mib"] else None
        participants = series["participants"][-1][1] if series["participants"] else 0
        out["server"] = (
            f"CPU {'–' if cpu is None else f'{cpu:.0%}'}, RSS "
            f"{'–' if rss is None else f'{rss:.0f} MiB'}, {int(participants)} participants"
        )
    if run.bots_cpu:
        out["bots_cpu"] = f"{run.bots_cpu[-1][1]:.0%} of a core"
    return out


class Display:
    def __init__(self, live: bool | None = None) -> None:
        self.console = Console(stderr=True)
        self.live_mode = sys.stderr.isatty() if live is None else live
        self._live: Live | None = None
        self._phase = "starting"
        self._last_plain = 0.0

    def _table(self, run: Run) -> Table:
        f = figures(run)
        table = Table(title=f"{run.scenario.name} · {self._phase}", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        length = run.plan.length
        table.add_row("time", f"{f['elapsed']:.0f} s of ~{length:.0f} s")
        table.add_row(
            "bots",
            f"{f['connected']} connected · {f['joined']}/{f['planned']} joined · "
            f"{f['failed']} failed · {f['dropped']} dropped",
        )
        table.add_row(
            "messages/s", f"{f['sent_per_s']:,.0f} sent · {f['received_per_s']:,.0f} received"
        )
        table.add_row("join ms p50/p95", f["join"])
        table.add_row("delivery ms p50/p95/p99", f["delivery"])
        for key in ("media", "server", "bots_cpu"):
            if key in f:
                table.add_row(key.replace("_", " "), f[key])
        table.add_row("errors", f["errors"])
        return table

    def start(self, run: Run) -> None:
        self._phase = "running"
        if self.live_mode:
            self._live = Live(self._table(run), console=self.console, refresh_per_second=2)
            self._live.start()

    def phase(self, text: str) -> None:
        self._phase = text
        if not self.live_mode:
            print(f"loadtest: {text}", file=sys.stderr, flush=True)

    def update(self, run: Run) -> None:
        if self._live is not None:
            self._live.update(self._table(run))
            return
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_EVERY:
            self._last_plain = now
            f = figures(run)
            print(
                f"[{f['elapsed']:4.0f}s] joined {f['joined']}/{f['planned']} failed {f['failed']}"
                f" · {f['received_per_s']:,.0f} msg/s in · join p50/p95 {f['join']} ms"
                f" · delivery {f['delivery']} ms" + (f" · {f['media']}" if "media" in f else ""),
                file=sys.stderr,
                flush=True,
            )

    def stop(self, run: Run) -> None:
        if self._live is not None:
            self._live.update(self._table(run))
            self._live.stop()
            self._live = None


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The headline figures of a finished run, for the terminal."""
    joins, bots = report["joins"], report["bots"]
    lat = joins["latency_ms"]
    planned = bots["planned"]["members"] + bots["planned"]["host"]
    lines = [
        f"scenario {report['scenario']['name']}: {report['tool']['elapsed_s']} s against "
        f"{report['target']['url']} ({report['pinning']})",
        f"joins: {bots['joined']} admitted of {planned}"
        f" planned, {bots['failed']} failed, {bots['dropped']} dropped; join latency (socket open"
        f" → joined) p50 {lat.get('p50', '–')} ms, p95 {lat.get('p95', '–')} ms, p99 "
        f"{lat.get('p99', '–')} ms",
        f"messages: {report['messages']['sent_total']:,} sent, "
        f"{report['messages']['received_total']:,} received",
    ]
    per_join = report["messages"].get("per_join")
    if per_join:
        lines.append(
            f"  per join: {per_join['presence']} presence messages, {per_join['all']} messages "
            "in all (received by the bots)"
        )
    for name, row in {"all deliveries": report["delivery_ms"], **report["latency_ms"]}.items():
        if row.get("count"):
            lines.append(
                f"  {name}: n={row['count']:,} p50 {row['p50']} ms, p95 {row['p95']} ms, "
                f"p99 {row['p99']} ms"
            )
    media = report.get("media")
    if media:
        loss = media["loss_ratio"]
        lines.append(
            f"media: {media['receiving_video']}/{media['subscribers']} subscribers received video;"
            f" packets {media['packets_received']:,} received, {media['packets_lost']:,} lost"
            f" ({'–' if loss is None else f'{loss:.3%}'}); first frame p50 "
            f"{media['first_frame_ms'].get('p50', '–')} ms, p95 "
            f"{media['first_frame_ms'].get('p95', '–')} ms"
        )
    for step in report.get("cpu_per_subscriber") or []:
        per = step["per_subscriber"]
        cpu = step["server_cpu"]
        lines.append(
            f"  N={step['subscribers']:<4} server CPU {'–' if cpu is None else f'{cpu:.1%}'}"
            f" of a core, per subscriber {'–' if per is None else f'{per:.3%}'}"
            + (
                ""
                if step["mbit_per_subscriber"] is None
                else f" ({step['mbit_per_subscriber']:.2f} Mbit/s each, "
                f"{step['cpu_us_per_packet']} µs per forwarded packet)"
            )
            + ("" if step["loss_ratio"] is None else f", loss {step['loss_ratio']:.3%}")
        )
    core = report.get("server_core")
    if core:
        lines.append(
            f"server's core (CPU {','.join(map(str, core['cpus']))}): salon + redis "
            f"{core['server_mean']:.0%} on average; other programs {core['others_mean']:.0%} "
            f"(peak {core['others_peak']:.0%})"
        )
    udp = report.get("udp_this_machine") or {}
    if udp.get("InDatagrams") or udp.get("RcvbufErrors") or udp.get("SndbufErrors"):
        lines.append(
            f"UDP on this machine: {udp.get('InDatagrams', 0):,} datagrams in, "
            f"{udp.get('RcvbufErrors', 0):,} dropped by full receive buffers, "
            f"{udp.get('SndbufErrors', 0):,} by full send buffers"
        )
    bots_cpu = report.get("bots_cpu") or {}
    if bots_cpu.get("peak") is not None:
        lines.append(
            f"bot processes: {bots_cpu['mean']:.0%} of a core on average, peak "
            f"{bots_cpu['peak']:.0%} ({bots_cpu['cores'] or 'all'} core(s) for bots)"
        )
    server = report.get("server")
    if server:
        lines.append(
            f"server: CPU mean {server['cpu_mean']}, peak {server['cpu_peak']} cores; RSS peak "
            f"{server['rss_mib_peak']} MiB; loop lag p99 {server.get('loop_lag_ms_p99')} ms, "
            f"peak {server['loop_lag_ms_peak']} ms"
        )
    if report["errors"]:
        lines.append("errors: " + ", ".join(f"{k} ×{v}" for k, v in report["errors"].items()))
    for name, row in (report.get("consistency") or {}).items():
        verdict = "match" if row["match"] else "MISMATCH"
        lines.append(f"server recorded {name}: {row['server']} (bots: {row['bots']}) {verdict}")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return lines
