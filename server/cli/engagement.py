"""The ``salon`` commands about engagement (hooked into ``server/cli/main.py``):

- ``salon members explain MEMBER_ID [--json]`` — tier, score, RFM, the deciding rule;
- ``salon import [--members FILE] [--orders FILE] [--events FILE [--dry-run]]`` — members
  and order history from CSV, past events of any kind from CSV or JSON Lines;
- ``salon metrics [funnel|health|value|tiers|sessions]`` — the operator's figures (JSON).

``salon scorer`` lives in ``server/cli/scorer.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from server.engagement.aggregates import Aggregates
from server.engagement.explain import explain, explain_text
from server.engagement.forecast import read_prediction
from server.engagement.history_import import (
    drop_unknown_members,
    format_of,
    parse_events,
    write_history,
)
from server.engagement.import_workers import write_history_in_workers
from server.engagement.importer import (
    ImportProblem,
    MemberRow,
    OrderRow,
    Progress,
    check_order_members,
    parse_members,
    parse_orders,
    write_import,
)
from server.engagement.ledger import Ledger
from server.engagement.members import MemberStore
from server.engagement.reports import Reports
from server.engagement.rules import Rules, load_rules
from server.engagement.scoring import now_ms
from server.ids import MemberId, is_valid_id
from server.redis_client import RedisClient, connect
from server.rooms.store import RoomStore
from server.settings import Settings

COMMANDS = ("import", "metrics")
MAX_SHOWN = 50  # rejected rows printed one by one
VIEWS = ("all", "funnel", "health", "value", "tiers", "sessions", "at-risk")


def add_commands(sub: Any, members: Any, common: argparse.ArgumentParser) -> None:
    """Add the engagement commands to ``salon``'s parser (``members`` is its sub-parser)."""
    explain_cmd = members.add_parser(
        "explain", help="why a member has their tier", parents=[common]
    )
    explain_cmd.add_argument("member_id")
    explain_cmd.add_argument("--json", action="store_true", help="print JSON")
    imp = sub.add_parser(
        "import", help="import members and order history from CSV", parents=[common]
    )
    imp.add_argument("--members", metavar="FILE", help="CSV: member_id,name,tier,pinned,since")
    imp.add_argument(
        "--orders", metavar="FILE", help="CSV: order_id,member_id,amount,currency,ordered_at"
    )
    imp.add_argument(
        "--events",
        metavar="FILE",
        help="past events of any kind, CSV or JSON Lines (.jsonl): id,kind,member_id,at,...",
    )
    imp.add_argument("--dry-run", action="store_true", help="check the events file, write nothing")
    imp.add_argument(
        "--workers",
        type=int,
        choices=range(1, 17),
        metavar="N",
        help="processes writing the events, members split between them (default 1)",
    )
    metrics = sub.add_parser("metrics", help="the operator's metrics as JSON", parents=[common])
    metrics.add_argument("view", nargs="?", default="all", choices=VIEWS)


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS or (args.command == "members" and args.action == "explain")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    rules = load_rules(settings.tiers.rules_file)
    redis = connect(settings.redis.url, 5, read_timeout=30)
    try:
        if args.command == "import":
            return await _import(args, redis, rules, settings)
        if args.command == "metrics":
            return await _metrics(args.view, redis, rules)
        return await _explain(args, redis, rules)
    finally:
        await redis.aclose()


async def _explain(args: argparse.Namespace, redis: RedisClient, rules: Rules) -> int:
    if not is_valid_id(args.member_id):
        print(f"salon: invalid_id: {args.member_id[:70]!r} is not a member id", file=sys.stderr)
        return 2
    mid = MemberId(args.member_id)
    ledger = Ledger(redis, rules)
    state, orders = await ledger.read(mid)
    if state.version == 0 and not state.is_member:
        print(f"salon: no member '{mid}'", file=sys.stderr)
        return 1
    member = await MemberStore(redis).get(mid)
    data = explain(
        state,
        member.name if member else mid,
        orders,
        await ledger.history(mid),
        rules,
        now_ms(),
        await ledger.caps(mid),
        await read_prediction(redis, mid),
    )
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else explain_text(data))
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblem(f"{path}: cannot read it: {exc}") from None


async def _import(
    args: argparse.Namespace, redis: RedisClient, rules: Rules, settings: Settings
) -> int:
    if not args.members and not args.orders and not args.events:
        print("salon: import needs --members, --orders and/or --events FILE", file=sys.stderr)
        return 2
    try:
        members = parse_members(_read(args.members), args.members) if args.members else []
        orders = parse_orders(_read(args.orders), now_ms(), args.orders) if args.orders else []
        await check_order_members(redis, orders, members, args.orders or "orders")
    except ImportProblem as exc:
        print(f"salon: import refused, nothing written: {exc}", file=sys.stderr)
        return 2
    if args.events:
        return await _import_events(args, redis, rules, settings, members, orders)
    ledger = Ledger(redis, rules)
    result = await write_import(
        redis,
        MemberStore(redis),
        ledger,
        Aggregates(redis, rules),
        members,
        orders,
        lambda label, total: Progress(label, total),
    )
    print(
        f"imported {result.members} members and {result.orders} orders "
        f"({result.new_orders} new); {result.tier_changes} tier changes"
    )
    return 0


async def _import_events(
    args: argparse.Namespace,
    redis: RedisClient,
    rules: Rules,
    settings: Settings,
    members: list[MemberRow],
    orders: list[OrderRow],
) -> int:
    """Members and orders first (if given), then the events file; bad rows are reported
    with their line numbers and left out, the good ones imported."""
    try:
        text = _read(args.events)
    except ImportProblem as exc:
        print(f"salon: import refused, nothing written: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    parsed = await asyncio.to_thread(parse_events, text, format_of(args.events), rules, now_ms())
    parse_s = time.perf_counter() - started
    await drop_unknown_members(redis, parsed, [m.member_id for m in members])
    for rejected in parsed.rejected[:MAX_SHOWN]:
        print(f"{args.events} {rejected.message()}", file=sys.stderr)
    if len(parsed.rejected) > MAX_SHOWN:
        print(f"... and {len(parsed.rejected) - MAX_SHOWN} more rejected rows", file=sys.stderr)
    summary = f"{len(parsed.events)} of {parsed.rows} rows good, {len(parsed.rejected)} rejected"
    if args.dry_run:
        print(f"dry run: {summary}; nothing written")
        return 0 if not parsed.rejected else 1
    if members or orders:
        await write_import(
            redis,
            MemberStore(redis),
            Ledger(redis, rules),
            Aggregates(redis, rules),
            members,
            orders,
            lambda label, total: Progress(label, total),
        )
    workers = args.workers or 1
    started = time.perf_counter()
    if workers > 1:
        result = await write_history_in_workers(
            settings.redis.url, settings.tiers.rules_file, parsed.events, workers, Progress
        )
    else:
        ledger = Ledger(redis, rules, history=True)
        result = await write_history(ledger, Aggregates(redis, rules), parsed.events, Progress)
    print(
        f"imported events: {summary}; {result.applied} applied, {result.duplicates} already "
        f"imported, {result.new_orders} new orders, {result.members} members, "
        f"{result.tier_changes} tier changes; read and checked in {parse_s:.1f} s, "
        f"written in {time.perf_counter() - started:.1f} s by {workers} process(es)"
    )
    return 0 if not parsed.rejected else 1


async def _metrics(view: str, redis: RedisClient, rules: Rules) -> int:
    reports = Reports(redis, rules)
    invites: set[str] = set()
    if view in ("all", "funnel"):
        for spec in await RoomStore(redis).list():
            invites.update(spec.invites)
    data: Any
    if view == "all":
        data = await reports.overview(now_ms(), invites)
    elif view == "funnel":
        data = await reports.funnel(invites)
    elif view == "health":
        data = await reports.health(now_ms())
    elif view == "value":
        data = await reports.value()
    elif view == "tiers":
        data = await reports.tiers()
    elif view == "at-risk":
        data = await reports.at_risk()
    else:
        data = {"sessions": await reports.sessions()}
    print(json.dumps(data, indent=2))
    return 0
