"""``salon consult list [--limit N] [--json] | show ID``: 1:1 consultations, newest first,
with their status, length (seconds from both present to the first leave) and the orders
credited to each. Refusals print ``salon: CODE: sentence`` and exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server.consult.errors import sentence
from server.consult.model import ConsultError
from server.consult.store import ConsultStore
from server.redis_client import connect
from server.settings import Settings

COMMANDS = ("consult",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "consult", help="1:1 consultations and their outcome", parents=[common]
    ).add_subparsers(dest="action", required=True)
    listing = group.add_parser("list", help="newest consultations", parents=[common])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON document")
    show = group.add_parser("show", help="one consultation (JSON)", parents=[common])
    show.add_argument("consult_id")


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


async def run(args: argparse.Namespace, settings: Settings) -> int:
    redis = connect(settings.redis.url, 5)
    store = ConsultStore(redis)
    try:
        if args.action == "show":
            [record] = await store.with_orders([await store.need(args.consult_id)])
            print(json.dumps(record.to_json(), indent=2, ensure_ascii=False))
            return 0
        records = await store.with_orders(await store.recent(max(1, min(args.limit, 1000))))
        if args.json:
            print(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
            return 0
        for r in records:
            print(
                f"{r.id}\t{r.status.value}\tmember={r.member_id}\tadvisor={r.advisor_id or '-'}"
                f"\tfrom={r.origin_room}\tseconds={r.seconds:g}\torders={','.join(r.orders) or '-'}"
            )
        return 0
    except ConsultError as exc:
        print(f"salon: {exc.code}: {sentence(exc)}", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()
