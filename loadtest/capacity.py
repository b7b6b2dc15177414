"""``run rooms --compare 1,2``: the same rooms scenario against 1 node, then 2 nodes, in one
invocation and on the same set-up, and the capacity ratio of the two (issue 11's target:
2 nodes carry ≥ 1.8× what 1 node carries, at the same join p95 and 0 loss).

Every run starts its own ``--spawn-cluster N`` (a Redis Cluster, N nodes in cluster mode
with room state in Redis, HAProxy sending a room's sockets to one node): 1 and 2 nodes
differ only in the node count. A run's figures over its steady window come from each
node's own ``/metrics`` (participants, forwarded packets, sockets relayed) and from
``/proc`` (each node's CPU, the cluster's Redis and HAProxy, the bots, the whole machine:
what is left is the other load on this shared machine).

A node cannot be saturated here (its core's worth of members needs bots with more than
the one core left), so capacity is inferred: members (and forwarded packets per second)
per core of node CPU at the run's load, times the N cores N nodes get; the ratio is
``N × per-core(N) / per-core(1)``. Repeating a count (``--compare 1,2,1,2``) runs it again;
the median of its runs is used.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from loadtest.cluster_spawn import SpawnedCluster
from loadtest.scrape import parse

# The target for 2 nodes, as a share of N × one node's capacity.
TARGET_SHARE = 0.9
# "The same join p95": N nodes' may exceed 1 node's by this share plus this many ms.
P95_SLACK_SHARE = 0.25
P95_SLACK_MS = 10.0
# The machine's share of busy cores (p95 of half-second looks while members join) above
# which the bots, sharing those cores, may be what made joins slow.
SATURATED = 0.9
# Issue 11: every member back within this after their node is killed (p95).
BACK_TARGET_MS = 5000.0

FORWARDED = "salon_media_forwarded_packets_total"
RELAYED_OUT, RELAYED_IN = "salon_relayed_out_total", "salon_relayed_in_total"


def _busy(times: Any) -> float:
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def machine_busy() -> float:
    """Busy CPU seconds of every core since boot."""
    return _busy(psutil.cpu_times())


def _cpu(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return 0.0


def _wakeups(pid: int) -> float:
    """Times the process gave up its CPU to wait (its loop found nothing left to do), summed
    over its threads: what a node pays per wake-up is spread over less work at low load."""
    with contextlib.suppress(psutil.Error):
        return float(psutil.Process(pid).num_ctx_switches().voluntary)
    return 0.0


@dataclass(frozen=True)
class Reading:
    """One look at the cluster and the machine (CPU seconds are totals since start)."""

    at: float
    nodes: dict[str, dict[str, float]]  # node id -> its /metrics, plus "cpu" (seconds)
    setup_cpu: float  # the cluster's other processes: Redis, HAProxy, its driver
    bots_cpu: float  # this process
    machine_busy: float  # every core's busy seconds


async def read(session: aiohttp.ClientSession, cluster: SpawnedCluster) -> Reading:
    nodes: dict[str, dict[str, float]] = {}
    for node, url in sorted(cluster.nodes.items()):
        async with session.get(f"{url}/metrics") as response:
            figures = parse(await response.text())
        pid = cluster.node_pid(node)
        figures["cpu"] = _cpu(pid) if pid is not None else 0.0
        figures["wakeups"] = _wakeups(pid) if pid is not None else 0.0
        nodes[node] = figures
    node_pids = set(cluster.node_pids())
    setup = [cluster.process.pid]
    with contextlib.suppress(psutil.Error):
        setup += [p.pid for p in psutil.Process(cluster.process.pid).children(recursive=True)]
    return Reading(
        time.monotonic(),
        nodes,
        sum(_cpu(pid) for pid in setup if pid not in node_pids),
        _cpu(psutil.Process().pid),
        machine_busy(),
    )


def participants(figures: dict[str, float]) -> float:
    return sum(v for k, v in figures.items() if k.startswith("salon_participants{"))


def window(idle: Reading, start: Reading, before: Reading, after: Reading) -> dict[str, Any]:
    """Figures over ``before``..``after``; each node's idle CPU over ``idle``..``start``
    (no room open yet), relays counted from ``start`` (the joins come before the steady
    window)."""
    span = max(after.at - before.at, 1e-6)
    idle_span = max(start.at - idle.at, 1e-6)
    per_node: dict[str, dict[str, Any]] = {}
    for node, now in after.nodes.items():
        was, first = before.nodes.get(node, {}), start.nodes.get(node, {})
        idle_cpu = first.get("cpu", 0.0) - idle.nodes.get(node, {}).get("cpu", 0.0)
        per_node[node] = {
            "participants": int(participants(now)),
            "rooms": int(now.get("salon_rooms", 0)),
            "cores": round((now["cpu"] - was.get("cpu", 0.0)) / span, 3),
            "idle_cores": round(idle_cpu / idle_span, 3),
            "wakeups_per_s": round((now["wakeups"] - was.get("wakeups", 0.0)) / span),
            "forwarded_packets_per_s": round(
                (now.get(FORWARDED, 0.0) - was.get(FORWARDED, 0.0)) / span, 1
            ),
            "relayed_out": int(now.get(RELAYED_OUT, 0.0) - first.get(RELAYED_OUT, 0.0)),
            "relayed_in": int(now.get(RELAYED_IN, 0.0) - first.get(RELAYED_IN, 0.0)),
        }
    cores = sum(n["cores"] for n in per_node.values())
    idle_cores = sum(n["idle_cores"] for n in per_node.values())
    members = sum(n["participants"] for n in per_node.values())
    # Above idle: what this load costs. Projected: the members that fit in the cores the
    # nodes have left above their idle (one core each), at that marginal cost.
    marginal = cores - idle_cores
    per_marginal = members / marginal if marginal > 0 else None
    left = sum(max(0.0, 1.0 - n["idle_cores"]) for n in per_node.values())
    pps = sum(n["forwarded_packets_per_s"] for n in per_node.values())
    setup = (after.setup_cpu - before.setup_cpu) / span
    bots = (after.bots_cpu - before.bots_cpu) / span
    machine = (after.machine_busy - before.machine_busy) / span
    return {
        "window_s": round(span, 1),
        "nodes": per_node,
        "cores": round(cores, 3),
        "participants": members,
        "forwarded_packets_per_s": round(pps, 1),
        "members_per_core": round(members / cores, 1) if cores > 0 else None,
        "forwarded_packets_per_s_per_core": round(pps / cores, 1) if cores > 0 else None,
        "idle_cores": round(idle_cores, 3),
        "members_per_core_above_idle": round(per_marginal, 1) if per_marginal else None,
        "projected_members": round(left * per_marginal) if per_marginal else None,
        "relayed_sockets": sum(n["relayed_out"] for n in per_node.values()),
        "machine": {
            "busy_cores": round(machine, 3),
            "redis_and_haproxy_cores": round(setup, 3),
            "bots_cores": round(bots, 3),
            "other_cores": round(max(0.0, machine - cores - setup - bots), 3),
            "cpu_count": psutil.cpu_count(),
        },
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def compare(runs: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Per node count the median per-core figures, and each count's ratio to 1 node."""
    counts = sorted({n for n, _ in runs})
    by: dict[int, dict[str, Any]] = {}
    for n in counts:
        mine = [r for k, r in runs if k == n]
        by[n] = {
            "runs": len(mine),
            "members_per_core": _median([r["capacity"]["members_per_core"] for r in mine]),
            "forwarded_packets_per_s_per_core": _median(
                [r["capacity"]["forwarded_packets_per_s_per_core"] for r in mine]
            ),
            "projected_members": _median([r["capacity"]["projected_members"] for r in mine]),
            "join_p95_ms": _median([r["join_ms"]["p95"] for r in mine]),
            "bot_lag_p95_ms": _median([r.get("bot_loop_lag_ms", {}).get("p95") for r in mine]),
            "busy_p95_cores": _median(
                [r.get("machine_busy_while_joining", {}).get("p95") for r in mine]
            ),
            "lost": sum(r["media"]["lost"] for r in mine),
            "refused": sum(sum(r["refused"].values()) for r in mine),
        }
        kills = [r["kill"] for r in mine if r.get("kill")]
        if kills:  # ``--kill-node``: a node of each run of 2+ nodes SIGKILLed after its window
            by[n]["kill"] = {
                "runs": len(kills),
                "dropped": sum(k["dropped"] for k in kills),
                "not_back": sum(k["not_back"] for k in kills),
                "back_p95_ms": _median([k["back_ms"]["p95"] for k in kills]),
                "back_max_ms": max((k["back_ms"]["max"] or 0.0 for k in kills), default=None),
            }
    verdicts: dict[str, Any] = {}
    one = by.get(1)
    for n in counts:
        if n == 1 or one is None or not one["members_per_core"] or not by[n]["members_per_core"]:
            continue
        ratio = n * by[n]["members_per_core"] / one["members_per_core"]
        packets = None
        if one["forwarded_packets_per_s_per_core"] and by[n]["forwarded_packets_per_s_per_core"]:
            packets = n * by[n]["forwarded_packets_per_s_per_core"] / one[
                "forwarded_packets_per_s_per_core"]  # fmt: skip
        p95_one, p95_n = one["join_p95_ms"] or 0.0, by[n]["join_p95_ms"] or 0.0
        allowed = p95_one * (1 + P95_SLACK_SHARE) + P95_SLACK_MS
        same_p95 = p95_n <= allowed
        # Joins are timed on the bots' own loop, and the bots share the machine's cores:
        # when that loop was late by at least the excess, or the machine's cores were all
        # busy, the load generator may have made the joins slow (not a verdict on Salon).
        lag_growth = (by[n]["bot_lag_p95_ms"] or 0.0) - (one["bot_lag_p95_ms"] or 0.0)
        saturated = (by[n]["busy_p95_cores"] or 0.0) >= SATURATED * (psutil.cpu_count() or 1)
        bots_limit = not same_p95 and (lag_growth >= p95_n - allowed or saturated)
        clean = by[n]["lost"] == one["lost"] == 0 and by[n]["refused"] == one["refused"] == 0
        target = TARGET_SHARE * n
        projected = None
        if one["projected_members"] and by[n]["projected_members"]:
            projected = by[n]["projected_members"] / one["projected_members"]
        # Each run of N against the 1-node run of the same turn (``1,2,1,2``: 1st with 1st).
        ones = [r["capacity"]["members_per_core"] for k, r in runs if k == 1]
        mine_n = [r["capacity"]["members_per_core"] for k, r in runs if k == n]
        pairs = [
            round(n * b / a, 2) for a, b in zip(ones, mine_n, strict=False) if a and b is not None
        ]
        verdicts[str(n)] = {
            "pairs": pairs,
            "members_ratio": round(ratio, 2),
            "projected_ratio": round(projected, 2) if projected is not None else None,
            "forwarded_ratio": round(packets, 2) if packets is not None else None,
            "target": target,
            "same_join_p95": same_p95,
            "join_p95_bots_limit": bots_limit,
            "no_loss": clean,
            "met": ratio >= target and same_p95 and clean,
            "projected_met": projected is not None and projected >= target and same_p95 and clean,
        }
    return {"by_nodes": {str(n): v for n, v in by.items()}, "ratios": verdicts}


def parse_counts(text: str) -> list[int]:
    """``1,2`` (or ``1,2,1,2``: repeats) → node counts; ValueError for anything else."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if len(counts) < 2 or 1 not in counts or any(not 1 <= n <= 8 for n in counts):
        raise ValueError(text)
    return counts


def _verdict(ratio: dict[str, Any]) -> str:
    if ratio["met"]:
        return "MET"
    if ratio.get("join_p95_bots_limit"):
        return (
            "INVALID (join p95 above the allowance while the bots' own loop lag grew by as "
            "much or the machine's cores were all busy: the load generator may be the limit)"
        )
    return "NOT MET"


def summary(result: dict[str, Any], run_lines: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    lines = []
    for n, run in result["runs"]:
        cap, machine = run["capacity"], run["capacity"]["machine"]
        lines.append(f"--- {n} node(s) ---")
        lines += run_lines(run)
        nodes = ", ".join(
            f"{node} {v['cores']} cores (idle {v['idle_cores']}) / {v['participants']} "
            f"members / {v['wakeups_per_s']} wake-ups/s / relayed "
            f"{v['relayed_out']} out {v['relayed_in']} in"
            for node, v in cap["nodes"].items()
        )
        lines.append(
            f"  nodes over {cap['window_s']} s: {nodes}; per core {cap['members_per_core']} "
            f"members, {cap['forwarded_packets_per_s_per_core']} packets/s; above idle "
            f"{cap['members_per_core_above_idle']} members per core, projected "
            f"{cap['projected_members']} members"
        )
        lines.append(
            f"  machine: {machine['busy_cores']} of {machine['cpu_count']} cores busy (nodes "
            f"{cap['cores']}, Redis+HAProxy {machine['redis_and_haproxy_cores']}, bots "
            f"{machine['bots_cores']}, others {machine['other_cores']}); load "
            f"{run['load_average_1m']}"
        )
    lines.append("--- capacity (inferred: N nodes get N cores; per-core figures at this load) ---")
    for n, by in result["comparison"]["by_nodes"].items():
        lines.append(
            f"  {n} node(s), {by['runs']} run(s): {by['members_per_core']} members and "
            f"{by['forwarded_packets_per_s_per_core']} forwarded packets/s per core "
            f"(projected above idle: {by['projected_members']} members); join p95 "
            f"{by['join_p95_ms']} ms (the bots' loop lag p95 {by['bot_lag_p95_ms']} ms, the "
            f"machine's busy cores p95 {by['busy_p95_cores']}); lost "
            f"{by['lost']}, refused {by['refused']}"
        )
    for n, v in result["comparison"]["ratios"].items():
        lines.append(
            f"  {n} nodes carry {v['members_ratio']}x the members and {v['forwarded_ratio']}x "
            f"the forwarded media of 1 node (target >= {v['target']:g}x, same join p95 "
            f"{v['same_join_p95']}, no loss {v['no_loss']}): " + _verdict(v)
        )
        if len(v["pairs"]) > 1:
            lines.append(
                f"  each turn's {n} nodes against its 1 node: "
                + ", ".join(f"{p}x" for p in v["pairs"])
            )
        lines.append(
            f"  idle-corrected: {n} nodes project {v['projected_ratio']}x the members of 1 node "
            "(each node's idle CPU taken off its core, the rest at the measured cost per "
            "member): " + ("MET" if v["projected_met"] else "NOT MET")
        )
    for n, by in result["comparison"]["by_nodes"].items():
        kill = by.get("kill")
        if kill:
            met = kill["not_back"] == 0 and (kill["back_p95_ms"] or 0.0) <= BACK_TARGET_MS
            lines.append(
                f"  kill -9 of a node ({n} nodes, {kill['runs']} run(s)): {kill['dropped']} "
                f"pages dropped, back p95 {kill['back_p95_ms']} ms (median of runs), max "
                f"{kill['back_max_ms']} ms, {kill['not_back']} not back (target p95 <= "
                f"{BACK_TARGET_MS:.0f} ms): " + ("MET" if met else "NOT MET")
            )
    return lines
