"""The import half of ``python -m benchmarks.tiering --redis``: a generated community
through the real history importer into a Redis of its own, timed, and its tiers as
Redis holds them checked against the ground truth.

``python -m benchmarks.tiering_import [--events 1000000]`` times the command itself:
it generates a community big enough for that many events, writes them to a CSV file
(with a few bad rows, which must be reported by line) and a members file, starts a
``redis-server`` of its own and runs ``salon import --members FILE --events FILE`` as
a process, then once more (an import is idempotent: nothing applied the second time).
Target: 1 million events in under 2 minutes (issue 14).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.community import Community, generate, members_csv, to_csv
from server.devtools.redis_embed import EmbeddedRedis, start_redis
from server.engagement.aggregates import Aggregates
from server.engagement.events import Event
from server.engagement.history_import import parse_events, write_history
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.rules import DAY_MS, Rules, load_rules
from server.engagement.scoring import now_ms

# 1 million events in under 2 minutes (issue 14).
IMPORT_TARGET = 1_000_000 / 120


async def _run(community: Community, rules: Rules) -> bool:
    embedded = await asyncio.to_thread(start_redis)
    redis = Redis.from_url(embedded.url)
    try:
        store = MemberStore(redis)
        since = community.now_ms - 400 * DAY_MS
        t0 = time.perf_counter()
        for member in community.members:
            await store.upsert(member.member_id, None, None, mode="auto", since_ms=since)
        t1 = time.perf_counter()
        text = to_csv(community.events)
        t2 = time.perf_counter()
        cpu0, redis_cpu0 = time.process_time(), await _redis_cpu(redis)
        parsed = await asyncio.to_thread(parse_events, text, "csv", rules, now_ms())
        t3 = time.perf_counter()
        ledger = Ledger(redis, rules, history=True)
        result = await write_history(ledger, Aggregates(redis, rules), parsed.events)
        t4 = time.perf_counter()
        cpu = time.process_time() - cpu0
        redis_cpu = await _redis_cpu(redis) - redis_cpu0
        rate = len(parsed.events) / (t4 - t2)
        print(
            f"import through Redis: {len(parsed.events):,} events ({len(text) / 1e6:.0f} MB "
            f"of CSV), parse {t3 - t2:.1f} s + fold and write {t4 - t3:.1f} s = "
            f"{rate:,.0f} events/s ({1e6 / rate:.0f} s per million; target "
            f"{1e6 / IMPORT_TARGET:.0f} s) {'OK' if rate >= IMPORT_TARGET else 'BELOW TARGET'}; "
            f"members written in {t1 - t0:.1f} s; {result.applied:,} applied, "
            f"{len(parsed.rejected)} rejected"
        )
        million = 1e6 / max(len(parsed.events), 1)
        print(
            f"  CPU per million events (load-independent): importer {cpu * million:.0f} s, "
            f"Redis {redis_cpu * million:.0f} s"
        )
        again = await write_history(ledger, Aggregates(redis, rules), parsed.events)
        print(f"  imported again: {again.applied} applied, {again.duplicates:,} already there")
        right, clear = await tier_check(store, community)
        return rate >= IMPORT_TARGET and again.applied == 0 and right / max(clear, 1) >= 0.97
    finally:
        await redis.aclose()
        await asyncio.to_thread(embedded.stop)


async def tier_check(store: MemberStore, community: Community) -> tuple[int, int]:
    """Print and return how many clear-cut members Redis holds in their true tier."""
    wrong: Counter[str] = Counter()
    clear = 0
    for member in community.members:
        got = await store.get(member.member_id)
        if member.clear and got is not None:
            clear += 1
            if got.tier is not member.truth:
                wrong[f"{member.truth.value}->{got.tier.value}"] += 1
    right = clear - sum(wrong.values())
    print(f"  tiers in Redis: {right}/{clear} clear-cut members right {dict(wrong) or ''}")
    return right, clear


async def _redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def import_figures(community: Community, rules: Rules | None = None) -> bool:
    import uvloop

    return uvloop.run(_run(community, rules or load_rules()))


# Rows with a problem each, appended to the generated file: the import must report them
# by line number and import the rest.
BAD_ROWS = (
    "bad-1,chat,c14-00000,not-a-time,,,,,,,,,,,,\n",
    "bad-2,teleport,c14-00000,2025-12-01T10:00:00Z,,,,,,,,,,,,\n",
    "bad-3,purchase,c14-00000,2025-12-01T10:00:00Z,,,,,,,o-bad,-5,EUR,,,\n",
)
EVENTS_PER_MEMBER = 181  # about, in the generated community


def salon_import(redis: EmbeddedRedis, *args: str) -> tuple[float, float, str, str]:
    """Run ``salon import ARGS`` on ``redis``: wall seconds, CPU seconds, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env["SALON_REDIS_URL"] = redis.url
    salon = Path(sys.executable).with_name("salon")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(salon), "import", *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, done.stdout, done.stderr


def million(count: int) -> bool:
    """Generate ``count`` events, import them with ``salon import``, print the figures."""
    t0 = time.perf_counter()
    # Ending now: the tiers Redis holds afterwards are checked against the truth.
    community = generate(members=math.ceil(count / EVENTS_PER_MEMBER * 1.05), now_ms=now_ms())
    # Whole members, in order, until there are ``count`` events (a member cut short
    # would be tiered on part of their history).
    by_member: dict[str, list[Event]] = {}
    for event in community.events:
        by_member.setdefault(event.member_id, []).append(event)
    kept: set[str] = set()
    total = 0
    for member in community.members:
        if total >= count:
            break
        kept.add(member.member_id)
        total += len(by_member.get(member.member_id, []))
    community.members = [m for m in community.members if m.member_id in kept]
    events = [e for e in community.events if e.member_id in kept]
    with tempfile.TemporaryDirectory(prefix="salon-import-bench-") as directory:
        events_file = Path(directory) / "events.csv"
        members_file = Path(directory) / "members.csv"
        events_file.write_text(to_csv(events) + "".join(BAD_ROWS))
        members_file.write_text(members_csv(community))
        size = events_file.stat().st_size
        print(
            f"generated {len(events):,} events of {len(community.members):,} members "
            f"({size / 1e6:.0f} MB of CSV, + {len(BAD_ROWS)} bad rows) in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        with start_redis() as redis:
            load = os.getloadavg()[0]
            args = ("--members", str(members_file), "--events", str(events_file))
            wall, cpu, out, err = salon_import(redis, *args)
            redis_cpu, (right, clear) = _after_import(redis, community)
            rate = len(events) / wall
            ok = rate >= IMPORT_TARGET
            print(f"  {out.strip()}")
            bad = [line for line in err.splitlines() if "line " in line]
            print(f"  rejected rows reported: {len(bad)} ({bad[0] if bad else 'none'})")
            print(
                f"salon import: {len(events):,} events in {wall:.1f} s = {rate:,.0f} events/s "
                f"({1e6 / rate:.0f} s per million; target {1e6 / IMPORT_TARGET:.0f} s) "
                f"{'OK' if ok else 'BELOW TARGET'}"
            )
            print(
                f"  CPU: salon import {cpu:.1f} s, Redis {redis_cpu:.1f} s; load average "
                f"{load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            wall2, _cpu, out2, _err = salon_import(redis, *args)
            applied = re.search(r"(\d+) applied", out2)
            again = int(applied.group(1)) if applied else -1
            print(f"  imported again in {wall2:.1f} s: {again} applied")
    return ok and again == 0 and len(bad) == len(BAD_ROWS) and right / max(clear, 1) >= 0.97


def _after_import(redis: EmbeddedRedis, community: Community) -> tuple[float, tuple[int, int]]:
    """Redis's CPU seconds so far, and the tier check."""

    async def read() -> tuple[float, tuple[int, int]]:
        client = Redis.from_url(redis.url)
        try:
            return await _redis_cpu(client), await tier_check(MemberStore(client), community)
        finally:
            await client.aclose()

    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tiering_import", description=__doc__
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to import")
    args = parser.parse_args(argv)
    return 0 if million(args.events) else 1


if __name__ == "__main__":
    sys.exit(main())
