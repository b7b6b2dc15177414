"""``python -m loadtest.burst_table``: ``burst_join`` at 500, 1,000 and 2,000 members, one table.

Runs ``python -m loadtest run burst_join --spawn-server`` once per size (50 joins a second,
long enough for every join: 30 s up to 1,000, 50 s for 2,000), each in a fresh server, and
prints one Markdown row per run from its ``report.json``: who was admitted, join latency,
the server's CPU and loop lag, presence messages per join, and how quiet the machine was
(load average before and after, and the share of the server's core other programs took).
Issue 17 asks for these figures side by side; the README's table is this output.

    python -m loadtest.burst_table [--sizes 500,1000,2000] [--rate 50] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HEADER = (
    "| members | load avg before → after | other programs on the server's core "
    "| admitted | join p50 / p95 / p99 ms | server core | loop lag p99 ms "
    "| presence msgs per join | all msgs per join |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.burst_table", description=__doc__)
    parser.add_argument("--sizes", default="500,1000,2000", help="room sizes, comma-separated")
    parser.add_argument("--rate", type=float, default=50.0, help="joins per second")
    parser.add_argument("--runs", type=int, default=1, help="runs per size")
    return parser.parse_args(argv)


def duration(members: int, rate: float) -> int:
    """Seconds for every join at ``rate`` plus a fifth to settle, at least 30."""
    return max(30, round(members / rate * 1.2))


def row(members: int, load: tuple[float, float], report: dict[str, Any]) -> str:
    """The table's row for one run's ``report.json``."""
    joins, server = report["joins"], report["server"]
    latency = joins["latency_ms"]
    per_join = report["messages"]["per_join"]
    others = report.get("server_core", {}).get("others_mean")
    planned = report["bots"]["planned"]["members"] + report["bots"]["planned"]["host"]
    return (
        f"| {members:,} | {load[0]:.1f} → {load[1]:.1f} "
        f"| {'–' if others is None else f'{others:.0%}'} "
        f"| {joins['admitted']:,} of {planned:,} "
        f"| {latency['p50']:,.1f} / {latency['p95']:,.1f} / {latency['p99']:,.1f} "
        f"| {server['cpu_mean']:.3f} | {server['loop_lag_ms_p99']:,.1f} "
        f"| {per_join['presence']:.2f} | {per_join['all']:.2f} |"
    )


def run_one(members: int, rate: float, report_dir: Path) -> tuple[tuple[float, float], Path]:
    """One ``burst_join`` run; the load average around it and its report's path."""
    before = os.getloadavg()[0]
    command = [
        sys.executable, "-m", "loadtest", "run", "burst_join", "--spawn-server", "--no-live",
        "--members", str(members), "--rate", str(rate),
        "--duration", str(duration(members, rate)), "--report-dir", str(report_dir),
    ]  # fmt: skip
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
    return (before, os.getloadavg()[0]), report_dir / "report.json"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="burst-table-") as scratch:
        for members in sizes:
            for n in range(args.runs):
                load, path = run_one(members, args.rate, Path(scratch) / f"{members}-{n}")
                try:
                    rows.append(row(members, load, json.loads(path.read_text())))
                except (OSError, ValueError, KeyError) as exc:
                    rows.append(f"| {members:,} | run failed: {type(exc).__name__} |")
                print(rows[-1], file=sys.stderr, flush=True)
    print(HEADER)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
