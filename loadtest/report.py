"""The report of a run: every figure as JSON, a summary on the terminal, the HTML page.

``build(run)`` gathers what the bots measured (``Totals``), what the server's
``/metrics`` said, the bot processes' CPU, and — when the server's Redis is known —
what the server recorded, into one JSON-ready dict. Latencies are milliseconds;
percentiles come from ``loadtest.stats.Histogram`` (within 1 %). ``write`` saves
``report.json`` and ``report.html`` (``loadtest.report_html``) in the report directory.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

from loadtest.runner import Run
from loadtest.stats import Histogram

BOTS_SATURATED = 0.9  # share of the bots' cores above which bot-side delay is likely
FOREIGN_LOAD = 0.10  # other programs' share of the server's core that makes figures noisy


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).isoformat(timespec="seconds")


def _prefixed(counters: Counter[str], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in sorted(counters.items()) if k.startswith(prefix) and v}


def _per_second(series: Counter[int], length: float) -> list[list[int]]:
    last = max([int(length), *series]) if series else int(length)
    return [[s, series.get(s, 0)] for s in range(last + 1)]


def _percentiles(per_second: dict[int, Histogram]) -> list[list[float | None]]:
    return [
        [
            s,
            per_second[s].percentile(50),
            per_second[s].percentile(95),
            per_second[s].percentile(99),
        ]
        for s in sorted(per_second)
    ]


def _merged(run: Run, prefix: str) -> Histogram:
    merged = Histogram()
    for name, hist in run.totals.hists.items():
        if name.startswith(prefix):
            merged.merge(hist)
    return merged


def _per_join(c: Counter[str]) -> dict[str, float] | None:
    joins = c["join:ok"]
    if not joins:
        return None
    received = _prefixed(c, "recv:")
    return {
        "presence": round(received.get("presence", 0) / joins, 2),
        "all": round(sum(received.values()) / joins, 2),
    }


def _media(run: Run) -> dict[str, Any] | None:
    totals = run.totals
    bots = {k: g for k, g in totals.gauges.items() if g.get("media")}
    if not bots and not run.scenario.host.publish:
        return None
    lost, expected = totals.gauge_sum("lost"), totals.gauge_sum("expected")
    jitters = Histogram()
    for gauge in bots.values():
        if gauge.get("video_frames"):
            jitters.add(gauge.get("jitter_ms", 0.0))
    c = totals.counters
    return {
        "subscribers": len(bots),
        "receiving_video": sum(1 for g in bots.values() if g.get("video_frames")),
        "first_frame_ms": totals.hists["first_frame"].summary(),
        "packets_received": int(totals.gauge_sum("packets")),
        "packets_expected": int(expected),
        "packets_lost": int(lost),
        "loss_ratio": round(lost / expected, 6) if expected else None,
        "retransmissions": int(totals.gauge_sum("rtx")),
        "video_frames": int(totals.gauge_sum("video_frames")),
        "audio_frames": int(totals.gauge_sum("audio_frames")),
        "bytes": int(totals.gauge_sum("bytes")),
        "jitter_ms_across_subscribers": jitters.summary(),
        "decoded_frames": c["media:decoded_frames"],
        "negotiation_failures": c["media:negotiation_failed"],
        "publish_failures": c["media:publish_failed"],
        "published": c["media:published"],
        "over_time": [list(row) for row in run.media_series],
    }


def _steps(run: Run) -> list[dict[str, Any]]:
    """Server CPU in each window of the plan, and per subscriber against the baseline."""
    if run.sampler is None:
        return []
    out = []
    base = None
    series = run.sampler.series()

    def mean(name: str, start: float, end: float) -> float | None:
        values = [v for t, v in series[name] if start <= t <= end]
        return sum(values) / len(values) if values else None

    for window in run.plan.windows:
        cpu = run.sampler.cpu_between(window.start, window.end)
        if window.subscribers == 0:
            base = cpu
        packets = mean("forwarded_packets_per_s", window.start, window.end)
        mbit = mean("forwarded_mbit_per_s", window.start, window.end)
        row: dict[str, Any] = {
            "subscribers": window.subscribers,
            "window_s": [round(window.start, 1), round(window.end, 1)],
            "server_cpu": None if cpu is None else round(cpu, 4),
            "per_subscriber": None,
            "forwarded_packets_per_s": None if packets is None else round(packets),
            "mbit_per_subscriber": None,
            "cpu_us_per_packet": None,
            "loss_ratio": None,
        }
        if cpu is not None and base is not None and window.subscribers:
            row["per_subscriber"] = round((cpu - base) / window.subscribers, 5)
            if packets:
                row["cpu_us_per_packet"] = round((cpu - base) / packets * 1e6, 1)
        if mbit is not None and window.subscribers:
            row["mbit_per_subscriber"] = round(mbit / window.subscribers, 3)
        inside = [r for r in run.media_series if window.start <= r[0] <= window.end]
        if len(inside) >= 2 and inside[-1][2] > inside[0][2]:
            row["loss_ratio"] = round(
                (inside[-1][3] - inside[0][3]) / (inside[-1][2] - inside[0][2]), 6
            )
        out.append(row)
    return out


def _server_core(run: Run) -> dict[str, Any] | None:
    """A spawned server's core: what the server (and its Redis) used, what others took."""
    if not run.server_core:
        return None
    rows = run.server_core
    return {
        "cpus": sorted(run.server_cores or ()),
        "server_mean": round(sum(r[1] for r in rows) / len(rows), 3),
        "others_mean": round(sum(r[2] for r in rows) / len(rows), 3),
        "others_peak": round(max(r[2] for r in rows), 3),
    }


def _consistency(run: Run) -> dict[str, Any] | None:
    if run.recorded is None:
        return None
    c, r = run.totals.counters, run.recorded
    pairs = {
        "member joins": (c["join:signaling"] + c["join:media"], r.get("join:member", 0)),
        "host joins": (c["join:host"], r.get("join:host", 0)),
        "chat lines accepted": (c["echo:chat"], r.get("chat", 0)),
        "questions accepted": (c["echo:question"], r.get("question", 0)),
    }
    return {
        name: {"bots": bots, "server": server, "match": bots == server}
        for name, (bots, server) in pairs.items()
    }


def build(run: Run) -> dict[str, Any]:
    c, h = run.totals.counters, run.totals.hists
    plan = run.plan
    length = run.elapsed
    bots_cpu = [v for _, v in run.bots_cpu]
    bot_cores = len(run.bot_cores) if run.bot_cores else None
    report: dict[str, Any] = {
        "tool": {
            "command": run.command,
            "started": _iso(run.started) if run.started else None,
            "ended": _iso(run.ended) if run.ended else None,
            "elapsed_s": round(length, 1),
            "interrupted": run.interrupted,
            "failure": run.failure,
        },
        "target": {"url": run.url, "room": run.cast.room, "spawned": run.spawned},
        "pinning": run.pinning,
        "scenario": run.scenario.to_json(),
        "bots": {
            "planned": {"members": plan.members, "host": int(plan.host is not None)},
            "started": c["bots:started"],
            "connected": c["connect:ok"],
            "joined": c["join:ok"],
            "failed": c["join:failed"],
            "dropped": c["dropped"],
            "left": c["left"],
        },
        "joins": {
            "admitted": c["join:ok"],
            "members_admitted": c["join:signaling"] + c["join:media"],
            "host_admitted": c["join:host"],
            "failed": c["join:failed"],
            "latency_ms": h["join"].summary(),
            "connect_ms": h["connect"].summary(),
            "per_second": _per_second(run.totals.series["joins"], length),
        },
        "messages": {
            "sent": _prefixed(c, "sent:"),
            "received": _prefixed(c, "recv:"),
            "sent_total": sum(_prefixed(c, "sent:").values()),
            "received_total": sum(_prefixed(c, "recv:").values()),
            "sent_per_second": _per_second(run.totals.series["sent"], length),
            "received_per_second": _per_second(run.totals.series["received"], length),
            # What the server sent the bots per admitted join (presence alone, and all).
            "per_join": _per_join(c),
        },
        "interactions": {
            "chat": {
                "sent": c["sent:chat_send"],
                "accepted": c["echo:chat"],
                "deliveries": c["delivered:chat"],
            },
            "questions": {
                "asked": c["sent:question_ask"],
                "accepted": c["echo:question"],
                "deliveries": c["delivered:question"],
                "upvotes": c["sent:question_upvote"],
                "answers": c["sent:question_answer"],
            },
            "reactions": {"sent": c["sent:reaction"], "updates": c["recv:reactions"]},
            "stage": {
                "hands": c["sent:hand_raise"],
                "invites": c["sent:stage_invite"],
                "replies": c["sent:stage_reply"],
                "moved_off": c["sent:stage_move_off"],
            },
        },
        "latency_ms": {
            name: hist.summary()
            for name, hist in sorted(h.items())
            if name.startswith(("delivery:", "ack:")) and hist.count
        },
        "delivery_ms": _merged(run, "delivery:").summary(),
        "unmatched_marks": run.totals.unmatched,
        "media": _media(run),
        "cpu_per_subscriber": _steps(run),
        "errors": _prefixed(c, "error:"),
        "bot_task_failures": _prefixed(c, "task_failed:"),
        "server": run.sampler.summary() if run.sampler else None,
        "server_recorded": run.recorded,
        "consistency": _consistency(run),
        "server_core": _server_core(run),
        "udp_this_machine": run.udp or None,
        "bots_cpu": {
            "cores": bot_cores,
            "mean": round(sum(bots_cpu) / len(bots_cpu), 3) if bots_cpu else None,
            "peak": round(max(bots_cpu), 3) if bots_cpu else None,
        },
        "timeline": {
            "join_percentiles": _percentiles(run.totals.series_hists["join"]),
            "delivery_percentiles": _percentiles(run.totals.series_hists["delivery"]),
            "errors_per_second": _per_second(run.totals.series["errors"], length),
            "server": run.sampler.series() if run.sampler else {},
            "bots_cpu": [list(row) for row in run.bots_cpu],
            "server_core": [list(row) for row in run.server_core],
        },
    }
    report["histograms"] = {
        name: [[round(lo, 4), round(hi, 4), n] for lo, hi, n in hist.bins()]
        for name, hist in [
            ("join", h["join"]),
            ("first_frame", h["first_frame"]),
            ("delivery", _merged(run, "delivery:")),
        ]
        if hist.count
    }
    report["warnings"] = warnings(run, report)
    return report


def warnings(run: Run, report: dict[str, Any]) -> list[str]:
    out = []
    if run.failure:
        out.append(f"the run failed: {run.failure}")
    if run.interrupted:
        out.append("interrupted: figures cover the run up to the interrupt")
    cores = report["bots_cpu"]["cores"] or 1
    peak = report["bots_cpu"]["peak"]
    if peak is not None and peak >= BOTS_SATURATED * cores:
        out.append(
            f"the bot processes used {peak:.0%} of {cores} core(s) at peak: latencies may "
            "include time the bots took to read"
        )
    core = report["server_core"]
    if core and core["others_mean"] > FOREIGN_LOAD:
        out.append(
            f"other programs used {core['others_mean']:.0%} of the server's core on average "
            f"(peak {core['others_peak']:.0%}): the server's figures are noisy"
        )
    udp = report["udp_this_machine"] or {}
    if udp.get("RcvbufErrors"):
        out.append(
            f"{udp['RcvbufErrors']:,} UDP datagrams were dropped on this machine because a "
            "socket's receive buffer was full (bots, or a local server, fell behind): that "
            "loss is the load tester's side, not the network's"
        )
    if report["joins"]["failed"]:
        out.append(f"{report['joins']['failed']} bot(s) were not admitted")
    if report["bots"]["dropped"]:
        out.append(f"{report['bots']['dropped']} bot(s) were disconnected by the server")
    server = report["server"]
    if server and server["failed_reads"]:
        out.append(f"{server['failed_reads']} reads of /metrics failed ({server['last_error']})")
    media = report["media"]
    if media and media["decoded_frames"]:
        out.append("media bots decoded frames: pass-through was not in effect")
    if report["bot_task_failures"]:
        failed = ", ".join(f"{k} ×{v}" for k, v in report["bot_task_failures"].items())
        out.append(f"bot tasks failed (their figures are missing): {failed}")
    if report["unmatched_marks"]:
        out.append(f"{report['unmatched_marks']} stage/answer events were seen but never sent")
    for name, row in (report["consistency"] or {}).items():
        if not row["match"]:
            out.append(f"{name}: bots counted {row['bots']}, the server recorded {row['server']}")
    return out


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    from loadtest.report_html import render

    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    html_path.write_text(render(report))
    return json_path, html_path
