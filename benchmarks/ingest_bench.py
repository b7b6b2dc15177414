"""Engagement benchmark: event ingest throughput and event-to-tier latency.

``python -m benchmarks.ingest_bench`` measures, in one process as a server runs them:

1. **Ingest**: events per second into Redis (the stream, acknowledged) from one
   ``EventRecorder``, sustained for ``--seconds``, with its journal on (in a temporary
   directory, as ``salon serve`` keeps one in its spill directory) unless ``--no-journal``.
   Events are created the way rooms create them (``new_event``: a fresh id and
   timestamp, msgpack) as fast as the recorder takes them; a producer that got ahead of
   Redis by half the buffer yields, so what is measured is what is written, not what is
   queued. Printed with the per-second rates' percentiles and the cost of ``record()``
   itself. Then ``--scorers`` scorer processes (default 2), members of one consumer
   group started together, work through that backlog: their combined rate is printed as
   a ratio to the ingest rate of the same run (target >= 0.5), with how busy each
   process and Redis were, the load average, and the members re-read after a conflict.
2. **Event to tier**: ``--probes`` potential members each get a purchase event while
   ``--background`` other events a second flow through the same recorder and scorer
   (one ``Scorer`` in the same process, as in ``salon serve``, lingering ``--linger``
   seconds after a small read, ``engagement.scorer_linger`` by default; 5,000 events a
   second by default, target p95 <= 50 ms). Latency runs from the
   event's creation to the moment the gate's read (``MemberStore.get``, on its own
   connection) sees the member as active. Printed with percentiles.

It starts its own ``redis-server`` on a free port unless ``--redis-url`` is given (the
database there is flushed: never point it at a database you care about).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from redis.asyncio import Redis

from server.devtools.redis_embed import EmbeddedRedis, start_redis
from server.engagement.events import STREAM_KEY, EventKind, new_event, purchase_data
from server.engagement.members import MemberStore, Tier
from server.engagement.recorder import EventRecorder
from server.engagement.rules import load_rules
from server.engagement.scorer import DEFAULT_BATCH, Scorer
from server.ids import MemberId
from server.settings import EngagementSettings

INGEST_TARGET = 50_000
LATENCY_TARGET_S = 0.050
# Scorer throughput as a share of ingest throughput measured in the same run: a figure
# that means the same on a fast or a slow machine.
SCORER_RATIO_TARGET = 0.5
MEMBERS = 2_000
SCORER_BATCH = DEFAULT_BATCH  # the scorer's own read size
# Scorer processes sharing the backlog by default: two, one per core of the machine the
# targets were set on.
SCORERS = 2
SEEN_KEY = "bench:scored"  # events the scorer processes have seen, together


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``values`` need not be sorted)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: list[float], unit: str, scale: float = 1.0, digits: int = 1) -> str:
    parts = [f"p{p}={percentile(values, p) * scale:,.{digits}f}" for p in (50, 90, 95, 99)]
    return f"{', '.join(parts)}, max={max(values) * scale:,.{digits}f} {unit}"


async def ingest(redis: Redis, seconds: float, journal_dir: str) -> dict[str, Any]:
    # A stream long enough to keep every event, so that all of them can be counted.
    settings = EngagementSettings(spill_dir=journal_dir, stream_maxlen=20_000_000)
    recorder = EventRecorder(redis, settings)
    members = [MemberId(f"bench-{i}") for i in range(MEMBERS)]
    kinds = [EventKind.REACTION, EventKind.CHAT, EventKind.REACTION, EventKind.UPVOTE]
    await recorder.start()
    redis0 = await redis_cpu(redis)
    created = 0
    record_time = 0.0
    per_second: list[float] = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    mark, written_at_mark = start, 0
    try:
        while (now := time.perf_counter()) - start < seconds:
            if recorder.depth > settings.buffer_max // 2:
                await asyncio.sleep(0)  # ahead of Redis: let the writer catch up
                continue
            t0 = time.perf_counter()
            for i in range(500):
                member = members[(created + i) % MEMBERS]
                recorder.record(
                    new_event(kinds[i % 4], "bench-room", member, session="s1", role="member")
                )
            record_time += time.perf_counter() - t0
            created += 500
            await asyncio.sleep(0)
            if now - mark >= 1.0:
                per_second.append((recorder.written - written_at_mark) / (now - mark))
                mark, written_at_mark = now, recorder.written
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        written = recorder.written
        await recorder.flush(timeout=60)
    finally:
        await recorder.stop()
    redis_used = await redis_cpu(redis) - redis0
    in_stream = await redis.xlen(STREAM_KEY)
    return {
        "created": created,
        "written": written,
        "elapsed": elapsed,
        "rate": written / elapsed,
        "per_second": per_second,
        "record_us": record_time / created * 1e6,
        "in_stream": in_stream,
        "dropped": recorder.dropped,
        "all_written": recorder.written,
        "journalled": recorder.journalled,
        # This process's CPU (all threads) per event written: steadier than the rate on
        # a machine shared with other work.
        "cpu_us": cpu / max(written, 1) * 1e6,
        "redis_us": redis_used / max(recorder.written, 1) * 1e6,
    }


async def score_share(url: str, consumer: str, count: int, start_at: float) -> dict[str, Any]:
    """One scorer process's part of the backlog: a member of the ``bench-throughput``
    group, reading until the scorers together have seen ``count`` events (a counter in
    Redis), starting at the wall-clock ``start_at`` so that every process starts at once."""
    redis = Redis.from_url(url)
    settings = EngagementSettings(spill_dir="", scorer_group="bench-throughput")
    scorer = Scorer(redis, settings, consumer, rules=load_rules())
    await scorer.ensure_group()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    seen = 0
    try:
        while True:
            await scorer.process_once(count=SCORER_BATCH)
            now_seen = scorer.applied + scorer.duplicates + scorer.too_old
            total = await redis.incrby(SEEN_KEY, now_seen - seen)
            seen = now_seen
            if total >= count:
                break
        ended = time.time()
        cpu = time.process_time() - cpu0
    finally:
        await redis.aclose()
    return {
        "events": seen,
        "ended": ended,
        "cpu": cpu,
        "conflicts": scorer.conflicts,
        "applied": scorer.applied,
        "duplicates": scorer.duplicates,
    }


def score_share_process(url: str, consumer: str, count: int, start_at: float) -> dict[str, Any]:
    """``score_share`` in a process of its own (the entry point of a worker process)."""
    import uvloop

    return uvloop.run(score_share(url, consumer, count, start_at))


async def scoring(url: str, count: int, scorers: int) -> dict[str, Any]:
    """``scorers`` scorer processes, members of one consumer group (a group of its own,
    from the start of the stream), working through ``count`` events of the ingest
    backlog together. The rate is the events over the wall-clock time from the common
    start to the last process's end."""
    redis = Redis.from_url(url)
    await redis.delete(SEEN_KEY)
    rcpu0 = await redis_cpu(redis)
    load0 = os.getloadavg()[0]
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    start_at = time.time() + 3.0  # every process imported and connected by then
    with concurrent.futures.ProcessPoolExecutor(scorers, mp_context=context) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(pool, score_share_process, url, f"bench-{i}", count, start_at)
                for i in range(scorers)
            )
        )
    elapsed = max(p["ended"] for p in parts) - start_at
    rcpu = await redis_cpu(redis) - rcpu0
    await redis.aclose()
    seen = sum(p["events"] for p in parts)
    return {
        "events": seen,
        "elapsed": elapsed,
        "rate": seen / elapsed,
        "parts": parts,
        "cpu_us": sum(p["cpu"] for p in parts) / seen * 1e6,
        "redis_us": rcpu / seen * 1e6,
        "redis_busy": rcpu / elapsed,
        "conflicts": sum(p["conflicts"] for p in parts),
        "duplicates": sum(p["duplicates"] for p in parts),
        "load": (load0, os.getloadavg()[0]),
    }


async def redis_cpu(redis: Redis) -> float:
    """Seconds of CPU the Redis server has used: a figure other load does not inflate
    as much as wall-clock time."""
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def latency(url: str, probes: int, background: int, linger: float) -> dict[str, Any]:
    redis = Redis.from_url(url)
    gate = Redis.from_url(url)  # the gate's own connection, as in the server
    scorer_redis = Redis.from_url(url)
    rules = load_rules()
    store = MemberStore(redis)
    for i in range(probes):
        await store.set(MemberId(f"probe-{i}"), Tier.POTENTIAL, pinned=False)
    recorder = EventRecorder(redis, EngagementSettings(spill_dir=""))
    settings = EngagementSettings(spill_dir="", scorer_linger=linger)
    scorer = Scorer(scorer_redis, settings, "bench", rules=rules)
    gate_store = MemberStore(gate)
    await recorder.start()
    await scorer.ensure_group()
    # Skip the ingest phase's backlog: this measures fresh events only.
    await scorer_redis.xgroup_setid(STREAM_KEY, "scorers", "$")
    await scorer.start()
    stop = asyncio.Event()
    noise_sent = 0

    async def noise() -> None:
        nonlocal noise_sent
        members = [MemberId(f"bg-{i}") for i in range(500)]
        tick = 0.01
        per_tick = max(1, round(background * tick))
        while not stop.is_set():
            for _ in range(per_tick):
                member = members[noise_sent % 500]
                recorder.record(new_event(EventKind.REACTION, "bench-room", member, emoji="fire"))
                noise_sent += 1
            await asyncio.sleep(tick)

    async def probe(i: int) -> float:
        member = MemberId(f"probe-{i}")
        created = time.perf_counter()
        recorder.record(
            new_event(
                EventKind.PURCHASE,
                "bench-room",
                member,
                **purchase_data(f"bench-{i}", "25.00", "EUR", session="s1"),
            )
        )
        while True:
            seen = await gate_store.get(member)
            if seen is not None and seen.tier is Tier.ACTIVE:
                return time.perf_counter() - created
            await asyncio.sleep(0.001)

    noise_task = asyncio.create_task(noise())
    results: list[float] = []
    started = time.perf_counter()
    try:
        await asyncio.sleep(0.5)  # let the background load settle
        pending: set[asyncio.Task[float]] = set()
        for i in range(probes):
            pending.add(asyncio.create_task(probe(i)))
            await asyncio.sleep(0.01)  # about 100 probes a second, spread out
            done = {t for t in pending if t.done()}
            results.extend(t.result() for t in done)
            pending -= done
        results.extend(await asyncio.wait_for(asyncio.gather(*pending), 60))
    finally:
        stop.set()
        await noise_task
        elapsed = time.perf_counter() - started
        await scorer.stop()
        await recorder.stop()
        for client in (redis, gate, scorer_redis):
            await client.aclose()
    return {
        "latencies": results,
        "background_rate": noise_sent / elapsed,
        "scorer_applied": scorer.applied,
        "tier_changes": scorer.tier_changes,
    }


async def run(args: argparse.Namespace) -> int:
    embedded: EmbeddedRedis | None = None
    url = args.redis_url
    if not url:
        embedded = await asyncio.to_thread(start_redis)
        url = embedded.url
    try:
        redis = Redis.from_url(url)
        await redis.flushdb()
        version = (await redis.info("server"))["redis_version"]
        print(f"redis {version} at {url}; python {sys.version.split()[0]}", flush=True)
        journal = "off" if args.no_journal else "on"
        print(
            f"ingest: {args.seconds:g} s of events from one recorder, journal {journal} ...",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="salon-bench-journal-") as directory:
            got = await ingest(redis, args.seconds, "" if args.no_journal else directory)
        await redis.aclose()
        ok_ingest = got["rate"] >= INGEST_TARGET
        print(
            f"  ingest throughput: {got['rate']:,.0f} events/s sustained "
            f"({got['written']:,} written in {got['elapsed']:.1f} s; target {INGEST_TARGET:,}) "
            f"{'OK' if ok_ingest else 'BELOW TARGET'}"
        )
        if got["per_second"]:
            print(f"  per-second rates: {spread(got['per_second'], 'events/s', digits=0)}")
        print(
            f"  record(): {got['record_us']:.2f} µs per event (new_event + encode + queue); "
            f"in the stream: {got['in_stream']:,} of {got['all_written']:,}, "
            f"dropped {got['dropped']}; journalled {got['journalled']:,}"
        )
        print(
            f"  process CPU: {got['cpu_us']:.2f} µs per event written (all threads), "
            f"Redis {got['redis_us']:.2f} µs"
        )
        # A loaded machine may have written fewer: the scorers stop at what is there.
        to_score = min(args.score, got["in_stream"])
        print(
            f"scoring: {args.scorers} scorer process(es) on {to_score:,} events of that "
            "backlog ...",
            flush=True,
        )
        sc = await scoring(url, to_score, args.scorers)
        ratio = sc["rate"] / got["rate"]
        ok_ratio = ratio >= SCORER_RATIO_TARGET
        print(
            f"  scorer throughput: {sc['rate']:,.0f} events/s from {args.scorers} process(es) "
            f"together ({sc['events']:,} events in {sc['elapsed']:.2f} s, {MEMBERS:,} members)"
        )
        for i, part in enumerate(sc["parts"]):
            print(
                f"    scorer {i}: {part['events']:,} events, CPU "
                f"{part['cpu'] / sc['elapsed'] * 100:.0f}% of a core, "
                f"{part['conflicts']:,} members re-read after a conflict"
            )
        print(
            f"  scorer CPU per event: {sc['cpu_us']:.0f} µs in the scorers' processes, "
            f"{sc['redis_us']:.0f} µs in Redis (Redis {sc['redis_busy'] * 100:.0f}% of a core); "
            f"load average {sc['load'][0]:.1f} -> {sc['load'][1]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"  scorer / ingest: {ratio:.2f} (target >= {SCORER_RATIO_TARGET}) "
            f"{'OK' if ok_ratio else 'BELOW TARGET'}"
        )
        # What the neighbours cannot move: CPU per event, this process's plus Redis's.
        ingest_cost = got["cpu_us"] + got["redis_us"]
        score_cost = sc["cpu_us"] + sc["redis_us"]
        print(
            f"  CPU per event (process + Redis): ingest {ingest_cost:.1f} µs, scoring "
            f"{score_cost:.1f} µs: one scorer process does {ingest_cost / score_cost:.2f} of "
            "what one recorder does with the same CPU"
        )
        print(
            f"event to tier: {args.probes} purchases by potential members, "
            f"with {args.background:,} other events/s, scorer linger "
            f"{args.linger * 1000:g} ms ...",
            flush=True,
        )
        lat = await latency(url, args.probes, args.background, args.linger)
        values = lat["latencies"]
        ok_latency = percentile(values, 95) < LATENCY_TARGET_S
        print(f"  event-to-tier latency: {spread(values, 'ms', scale=1000)}")
        print(
            f"  mean {statistics.fmean(values) * 1000:.1f} ms; p95 target "
            f"{LATENCY_TARGET_S * 1000:.0f} ms {'OK' if ok_latency else 'ABOVE TARGET'}; "
            f"background {lat['background_rate']:,.0f} events/s; scorer applied "
            f"{lat['scorer_applied']:,} events, {lat['tier_changes']} tier changes"
        )
        return 0 if ok_ingest and ok_latency and ok_ratio else 1
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="ingest duration")
    parser.add_argument("--score", type=int, default=50_000, help="events for the scorer phase")
    parser.add_argument(
        "--scorers", type=int, default=SCORERS, help="scorer processes sharing the backlog"
    )
    parser.add_argument("--probes", type=int, default=300, help="purchases timed to the tier")
    parser.add_argument("--background", type=int, default=5000, help="other events per second")
    parser.add_argument(
        "--linger",
        type=float,
        default=EngagementSettings().scorer_linger,
        help="the event-to-tier scorer's engagement.scorer_linger (seconds)",
    )
    parser.add_argument("--redis-url", help="use this Redis (its database is flushed)")
    parser.add_argument(
        "--no-journal", action="store_true", help="ingest without the recorder's journal"
    )
    args = parser.parse_args(argv)
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
