"""Small inline-SVG charts for the HTML report: lines over time, bars, log histograms.

No JavaScript and no external file: the report opens offline and can be mailed as one
file. Each function returns an ``<svg>`` element as a string, or a short note when
there is nothing to plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 44, 40
MARKERS = 40
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")

Point = tuple[float, float]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    if abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3g}"


def _frame(title: str, x_label: str, y_label: str, body: list[str], legend: list[str]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="{LEFT}" y="18" class="title">{escape(title)}</text>',
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle" class="label">'
        f"{escape(x_label)}</text>",
        f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" class="label" '
        f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">{escape(y_label)}</text>',
        *body,
    ]
    for index, name in enumerate(legend):  # one row under the title
        x = LEFT + 150 * index
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="25" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="34" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _axes(x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]]) -> list[str]:
    out = [
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" class="axis"/>',
    ]
    for x, text in x_ticks:
        out.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="tick">'
            f"{escape(text)}</text>"
        )
    for y, text in y_ticks:
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(text)}</text>"
        )
    return out


def empty(title: str, why: str = "no data") -> str:
    return f'<p class="empty"><b>{escape(title)}</b>: {escape(why)}</p>'


def lines(
    title: str, series: dict[str, Sequence[Point]], x_label: str = "seconds", y_label: str = ""
) -> str:
    """One line per named series of (x, y) points (None values are skipped)."""
    points = [(x, y) for s in series.values() for x, y in s if y is not None]
    if not points:
        return empty(title)
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y1 = max(p[1] for p in points) or 1.0
    x1 = x1 if x1 > x0 else x0 + 1
    x_ticks, y_ticks = _nice_ticks(x0, x1), _nice_ticks(0, y1)
    y_top = max(y_ticks[-1], y1)

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - y / y_top * (H - TOP - BOTTOM)

    body = _axes(
        [(sx(t), _fmt(t)) for t in x_ticks if x0 <= t <= x1],
        [(sy(t), _fmt(t)) for t in y_ticks],
    )
    for index, (name, data) in enumerate(series.items()):
        shown = [(sx(x), sy(y)) for x, y in data if y is not None]
        colour = COLOURS[index % len(COLOURS)]
        if len(shown) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in shown)
            body.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6">'
                f"<title>{escape(name)}</title></polyline>"
            )
        if len(shown) <= MARKERS:  # few points: show each one
            body += [
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in shown
            ]
    return _frame(title, x_label, y_label, body, list(series) if len(series) > 1 else [])


def bars(title: str, data: Sequence[Point], x_label: str = "seconds", y_label: str = "") -> str:
    """Vertical bars at integer x positions (per-second counts)."""
    if not data or not any(y for _, y in data):
        return empty(title)
    x0, x1 = min(x for x, _ in data), max(x for x, _ in data) + 1
    y1 = max(y for _, y in data)
    y_ticks = _nice_ticks(0, y1)
    y_top = max(y_ticks[-1], y1)
    width = (W - LEFT - RIGHT) / (x1 - x0)

    def sx(x: float) -> float:
        return LEFT + (x - x0) * width

    def sy(y: float) -> float:
        return H - BOTTOM - y / y_top * (H - TOP - BOTTOM)

    body = _axes(
        [(sx(t) + width / 2, _fmt(t)) for t in _nice_ticks(x0, x1 - 1) if x0 <= t < x1],
        [(sy(t), _fmt(t)) for t in y_ticks],
    )
    for x, y in data:
        if y:
            body.append(
                f'<rect x="{sx(x) + width * 0.1:.1f}" y="{sy(y):.1f}" width="{width * 0.8:.1f}" '
                f'height="{H - BOTTOM - sy(y):.1f}" fill="{COLOURS[0]}"><title>{_fmt(x)}: '
                f"{_fmt(y)}</title></rect>"
            )
    return _frame(title, x_label, y_label, body, [])


def histogram(title: str, bins: Sequence[Sequence[float]], x_label: str = "ms") -> str:
    """Counts per latency bucket on a logarithmic x axis; bins are (low, high, count)."""
    bins = [b for b in bins if b[2] > 0]
    if not bins:
        return empty(title)
    lo = max(min(b[0] for b in bins), 0.01)
    hi = max(b[1] for b in bins)
    lo_log, hi_log = math.log10(lo), math.log10(hi) if hi > lo else math.log10(lo) + 1
    top = max(b[2] for b in bins)
    y_ticks = _nice_ticks(0, top)
    y_top = max(y_ticks[-1], top)

    def sx(v: float) -> float:
        v = max(v, lo)
        return LEFT + (math.log10(v) - lo_log) / (hi_log - lo_log) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - y / y_top * (H - TOP - BOTTOM)

    decades = range(math.floor(lo_log), math.ceil(hi_log) + 1)
    marks = (1, 2, 5) if hi_log - lo_log < 3 else (1,)
    x_ticks = [
        (sx(m * 10.0**d), _fmt(m * 10.0**d))
        for d in decades
        for m in marks
        if lo_log <= math.log10(m * 10.0**d) <= hi_log
    ]
    body = _axes(x_ticks, [(sy(t), _fmt(t)) for t in y_ticks])
    for low, high, count in bins:
        x_a, x_b = sx(low), sx(high)
        body.append(
            f'<rect x="{x_a:.1f}" y="{sy(count):.1f}" width="{max(1.0, x_b - x_a):.1f}" '
            f'height="{H - BOTTOM - sy(count):.1f}" fill="{COLOURS[0]}">'
            f"<title>{_fmt(low)}–{_fmt(high)} ms: {int(count)}</title></rect>"
        )
    return _frame(title, x_label + " (log scale)", "count", body, [])
