"""The HTML page of a report: the key figures, tables, and inline SVG plots.

``render(report)`` takes the JSON report (``loadtest.report.build``) and returns one
self-contained page (no script, no network): a load tester can open it offline, attach
it to a ticket, or archive it beside ``report.json``.
"""

from __future__ import annotations

import itertools
from html import escape
from typing import Any

from loadtest import svg

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#111}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}th:first-child,td:first-child{text-align:left}.warn{color:#b45309}
.bad{color:#b91c1c;font-weight:600}.ok{color:#15803d}.muted{color:#666}
svg.chart{display:block;margin:10px 0;font-size:11px}svg .title{font-size:13px;font-weight:600}
svg .axis{stroke:#444}svg .grid{stroke:#eee}svg .tick,svg .legend,svg .label{fill:#333}
.empty{color:#666}
"""
PERCENTILE_KEYS = ("count", "mean", "p50", "p90", "p95", "p99", "max")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _latency_table(rows: dict[str, dict[str, Any]]) -> str:
    return _table(
        ["latency (ms)", *PERCENTILE_KEYS],
        [[name, *(summary.get(k) for k in PERCENTILE_KEYS)] for name, summary in rows.items()],
    )


def _percentile_chart(title: str, rows: list[list[Any]]) -> str:
    return svg.lines(
        title,
        {f"p{q}": [(r[0], r[i]) for r in rows] for i, q in ((1, 50), (2, 95), (3, 99))},
        y_label="ms",
    )


def _media_section(report: dict[str, Any]) -> list[str]:
    media = report.get("media")
    if not media:
        return []
    out = ["<h2>Media</h2>"]
    loss = media["loss_ratio"]
    out.append(
        _table(
            ["figure", "value"],
            [
                [
                    "media subscribers (receiving video)",
                    f"{media['subscribers']} ({media['receiving_video']})",
                ],
                [
                    "packets received / expected",
                    f"{media['packets_received']:,} / {media['packets_expected']:,}",
                ],
                [
                    "packets lost",
                    f"{media['packets_lost']:,} ({'–' if loss is None else f'{loss:.3%}'})",
                ],
                ["retransmissions", media["retransmissions"]],
                ["video / audio frames", f"{media['video_frames']:,} / {media['audio_frames']:,}"],
            ],
        )
    )
    out.append(
        _latency_table(
            {
                "time to first video frame": media["first_frame_ms"],
                "jitter across subscribers": media["jitter_ms_across_subscribers"],
            }
        )
    )
    hist = report["histograms"].get("first_frame")
    if hist:
        out.append(svg.histogram("Time to first video frame (socket open → frame)", hist))
    rows = media["over_time"]
    lost = [(b[0], b[3] - a[3]) for a, b in itertools.pairwise(rows)]
    out.append(svg.lines("Packets lost per sample", {"lost": lost}, y_label="packets"))
    out.append(
        svg.lines("Subscribers receiving video", {"receiving": [(r[0], r[4]) for r in rows]})
    )
    steps = report.get("cpu_per_subscriber") or []
    if steps:
        out.append("<h3>Server CPU per media subscriber</h3>")
        out.append(
            _table(
                [
                    "subscribers",
                    "window (s)",
                    "server CPU (cores)",
                    "per subscriber",
                    "Mbit/s each",
                    "µs per packet",
                    "loss",
                ],
                [
                    [
                        s["subscribers"],
                        f"{s['window_s'][0]}–{s['window_s'][1]}",
                        s["server_cpu"],
                        None if s["per_subscriber"] is None else f"{s['per_subscriber']:.3%}",
                        s.get("mbit_per_subscriber"),
                        s.get("cpu_us_per_packet"),
                        None if s["loss_ratio"] is None else f"{s['loss_ratio']:.3%}",
                    ]
                    for s in steps
                ],
            )
        )
    return out


def _server_section(report: dict[str, Any]) -> list[str]:
    server = report.get("server")
    if not server:
        return ["<h2>Server</h2><p class='empty'>/metrics was not read.</p>"]
    series = report["timeline"]["server"]
    bots = report["timeline"]["bots_cpu"]
    return [
        "<h2>Server (from /metrics)</h2>",
        _table(["figure", "value"], [[k.replace("_", " "), v] for k, v in server.items()]),
        svg.lines(
            "CPU (cores busy)",
            {
                "server": series.get("cpu", []),
                "bot processes": [tuple(r) for r in bots],
                "others on the server's core": [
                    (r[0], r[2]) for r in report["timeline"].get("server_core", [])
                ],
            },
            y_label="cores",
        ),
        svg.lines("Server memory (RSS)", {"RSS": series.get("rss_mib", [])}, y_label="MiB"),
        svg.lines("Participants", {"participants": series.get("participants", [])}),
        svg.lines(
            "Forwarded media",
            {"packets/s": series.get("forwarded_packets_per_s", [])},
            y_label="packets/s",
        ),
        svg.lines(
            "Event-loop lag and event buffer",
            {
                "loop lag (ms)": series.get("loop_lag_ms", []),
                "event buffer": series.get("event_buffer", []),
            },
        ),
    ]


def render(report: dict[str, Any]) -> str:
    tool, scenario, joins = report["tool"], report["scenario"], report["joins"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Salon load test: {escape(scenario['name'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Load test: {escape(scenario['name'])}</h1>",
        f"<p class='muted'>{escape(scenario.get('description', ''))}<br>{escape(tool['command'])}"
        f"<br>{escape(str(tool['started']))} → {escape(str(tool['ended']))} "
        f"({tool['elapsed_s']} s) · target {escape(report['target']['url'])} · room "
        f"{escape(report['target']['room'])} · {escape(report['pinning'])}</p>",
    ]
    for warning in report["warnings"]:
        parts.append(f"<p class='warn'>⚠ {escape(warning)}</p>")
    bots = report["bots"]
    parts += [
        "<h2>Summary</h2>",
        _table(
            ["figure", "value"],
            [
                [
                    "bots planned (members + host)",
                    bots["planned"]["members"] + bots["planned"]["host"],
                ],
                [
                    "admitted / failed / dropped",
                    f"{bots['joined']} / {bots['failed']} / {bots['dropped']}",
                ],
                [
                    "join latency p50 / p95 / p99 (ms)",
                    " / ".join(_cell(joins["latency_ms"].get(k)) for k in ("p50", "p95", "p99")),
                ],
                [
                    "messages sent / received",
                    f"{report['messages']['sent_total']:,} / "
                    f"{report['messages']['received_total']:,}",
                ],
                [
                    "delivery latency p50 / p95 / p99 (ms)",
                    " / ".join(_cell(report["delivery_ms"].get(k)) for k in ("p50", "p95", "p99")),
                ],
            ],
        ),
    ]
    if report.get("consistency"):
        parts.append("<h3>Bots against what the server recorded (its event stream)</h3>")
        parts.append(
            _table(
                ["figure", "bots", "server", ""],
                [
                    [k, v["bots"], v["server"], "match" if v["match"] else "MISMATCH"]
                    for k, v in report["consistency"].items()
                ],
            )
        )
    parts += [
        "<h2>Joins</h2>",
        _latency_table(
            {
                "join (socket open → joined)": joins["latency_ms"],
                "connect (WebSocket handshake)": joins["connect_ms"],
            }
        ),
        svg.histogram("Join latency", report["histograms"].get("join", [])),
        _percentile_chart(
            "Join latency percentiles over time", report["timeline"]["join_percentiles"]
        ),
        svg.bars("Joins per second", [tuple(p) for p in joins["per_second"]], y_label="joins"),
        "<h2>Messages</h2>",
        svg.lines(
            "Messages per second",
            {
                "received": [tuple(p) for p in report["messages"]["received_per_second"]],
                "sent": [tuple(p) for p in report["messages"]["sent_per_second"]],
            },
            y_label="messages/s",
        ),
        _table(["sent", "count"], [[k, v] for k, v in report["messages"]["sent"].items()]),
        _table(["received", "count"], [[k, v] for k, v in report["messages"]["received"].items()]),
        "<h2>Delivery latency</h2>",
        _latency_table({"all deliveries": report["delivery_ms"], **report["latency_ms"]}),
        svg.histogram("Delivery latency (all kinds)", report["histograms"].get("delivery", [])),
        _percentile_chart(
            "Delivery latency percentiles over time", report["timeline"]["delivery_percentiles"]
        ),
        *_media_section(report),
        "<h2>Errors by code</h2>",
        _table(["code", "count"], [[k, v] for k, v in report["errors"].items()])
        if report["errors"]
        else "<p class='ok'>No errors.</p>",
        svg.bars("Errors per second", [tuple(p) for p in report["timeline"]["errors_per_second"]]),
        *_server_section(report),
        "</body></html>",
    ]
    return "\n".join(parts)
