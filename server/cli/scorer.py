"""The ``salon scorer`` command (hooked into ``server/cli/main.py``): engagement scorers
in processes of their own, so that serving nodes can run with
``engagement.scorer_enabled = false`` and leave scoring to them (issues 14 and 17).

- ``salon scorer [--consumer NAME] [--batch N]`` — one scorer, a member of the nodes'
  consumer group (``engagement.scorer_group``) on ``redis.url``;
- ``salon scorer --processes N`` — N such processes under this one, which forwards
  SIGTERM/SIGINT to them and exits 0 once all stopped cleanly.

A tier change it decides has the effects it has in a server: published on the
cross-node effects channel (every node applies it to its live rooms: the hosts see it)
and queued as a ``tier.changed`` webhook (the outbox's mover only: the nodes'
dispatchers post it). Predictions are refitted by the scorer itself, as in a server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any, Final

from server.cli.output import say
from server.cli.workers import _die_with_parent as die_with_parent
from server.engagement.ledger import TierChange
from server.engagement.rules import load_rules
from server.engagement.scorer import DEFAULT_BATCH, Scorer
from server.redis_client import connect, disconnect
from server.rooms.effects import Effects
from server.settings import Settings, masked_url
from server.webhooks.outbox import WebhookOutbox
from server.webhooks.store import WebhookStore

COMMANDS: Final = ("scorer",)
MAX_PROCESSES: Final = 64
STOP_GRACE_S: Final = 20.0

logger = logging.getLogger(__name__)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    scorer = sub.add_parser("scorer", help="run scorer processes", parents=[common])
    scorer.add_argument(
        "--consumer", help="consumer name (default: host-pid; NAME-i under --processes)"
    )
    scorer.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="entries read at once (at most)"
    )
    scorer.add_argument(
        "--processes",
        type=_processes,
        default=1,
        metavar="N",
        help=f"scorer processes sharing the work (1-{MAX_PROCESSES}, default 1)",
    )
    # Set by ``--processes N`` on each child's command line.
    scorer.add_argument("--scorer-index", type=int, default=None, help=argparse.SUPPRESS)


def _processes(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_PROCESSES}")
    return count


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


def run(args: argparse.Namespace, settings: Settings, argv: list[str]) -> int:
    """One scorer in this process, or the supervisor of ``--processes N``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.processes > 1 and args.scorer_index is None:
        return _supervise(args.processes, argv)
    import uvloop

    return uvloop.run(_score(args, settings))


def _consumer(args: argparse.Namespace) -> str:
    if args.consumer and args.scorer_index is not None:
        return f"{args.consumer}-{args.scorer_index}"
    return str(args.consumer or f"{socket.gethostname()}-{os.getpid()}")


async def _score(args: argparse.Namespace, settings: Settings) -> int:
    rules = load_rules(settings.tiers.rules_file)
    # The scorer's own client (blocking stream reads); another for effects and webhooks.
    try:
        redis = connect(settings.redis.url, settings.redis.timeout, read_timeout=0)
        side = connect(settings.redis.url, settings.redis.timeout)
    except ValueError as exc:
        say(f"salon: settings: redis.url: {exc}", err=True)
        return 2
    consumer = _consumer(args)
    effects = Effects(side, f"scorer-{consumer}")
    outbox = WebhookOutbox(WebhookStore(side))

    def on_tier_change(change: TierChange) -> None:
        effects.tier_changed(change.member_id, change.to_json())
        outbox.publish("tier.changed", change.to_json())

    scorer = Scorer(
        redis,
        settings.engagement,
        consumer,
        rules=rules,
        on_tier_change=on_tier_change,
        sweep_interval=settings.tiers.sweep_interval,
        review_ms=int(settings.tiers.review_interval * 1000),
        batch=max(1, min(args.batch, 10_000)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    say(f"salon: scorer {consumer} reading {masked_url(settings.redis.url)}")
    await outbox.start()
    await scorer.start()
    await stop.wait()
    # A blocked read can outlive its cancellation inside redis-py: closing the
    # connections ends it (as app.py does).
    stopping = asyncio.ensure_future(scorer.stop())
    await asyncio.sleep(0)
    await disconnect(redis)
    await stopping
    await redis.aclose()
    await effects.close()
    await outbox.stop()
    await side.aclose()
    say(
        f"salon: scorer {consumer} stopped after {scorer.applied} events "
        f"({scorer.tier_changes} tier changes)"
    )
    return 0


def _supervise(count: int, argv: list[str]) -> int:
    """Run ``count`` scorer processes (this command line, each with its index); a signal
    is passed on to them. 0 once every one exited 0; 2 if they all refused the settings;
    1 if one failed (the others are then stopped)."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base = [sys.executable, "-m", "server.cli", *argv]
    children = [
        subprocess.Popen(
            [*base, "--scorer-index", str(i)], start_new_session=True, preexec_fn=die_with_parent
        )
        for i in range(count)
    ]
    failed = False
    while not stopping and not failed:
        failed = any(child.poll() is not None for child in children)
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.error("scorer process %d did not stop: killed", child.pid)
            child.kill()
            child.wait()
    codes = [child.returncode for child in children]
    if set(codes) == {2}:
        return 2  # bad settings: each child said so in one line
    if failed or any(codes):
        logger.error("scorer processes exited with %s", codes)
        return 1
    say(f"salon: {count} scorer processes stopped")
    return 0
