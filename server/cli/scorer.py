"""The ``salon scorer`` command (hooked into ``server/cli/main.py``): an engagement scorer
in a process of its own, sharing the work with the servers' scorers through the consumer
group.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from typing import Any

from server.engagement.rules import load_rules
from server.engagement.scorer import DEFAULT_BATCH, Scorer
from server.redis_client import connect, disconnect
from server.settings import Settings

COMMANDS = ("scorer",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    scorer = sub.add_parser("scorer", help="run a scorer process", parents=[common])
    scorer.add_argument("--consumer", help="consumer name (default: host-pid)")
    scorer.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="entries read at once (at most)"
    )


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


async def run(args: argparse.Namespace, settings: Settings) -> int:
    rules = load_rules(settings.tiers.rules_file)
    redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    scorer = Scorer(
        redis,
        settings.engagement,
        consumer,
        rules=rules,
        sweep_interval=settings.tiers.sweep_interval,
        review_ms=int(settings.tiers.review_interval * 1000),
        batch=max(1, min(args.batch, 10_000)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"salon: scorer {consumer} reading {settings.redis.url}", flush=True)
    await scorer.start()
    await stop.wait()
    # A blocked read can outlive its cancellation inside redis-py: closing the
    # connections ends it (as app.py does).
    stopping = asyncio.ensure_future(scorer.stop())
    await asyncio.sleep(0)
    await disconnect(redis)
    await stopping
    await redis.aclose()
    print(f"salon: scorer {consumer} stopped after {scorer.applied} events", flush=True)
    return 0
