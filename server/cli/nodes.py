"""The ``salon nodes`` commands (hooked into ``server/cli/main.py``):

- ``salon nodes list`` — every live node: id, URL, ICE address, load, draining (JSON);
- ``salon nodes drain NODE`` — the node takes no new room (live rooms finish there);
- ``salon nodes undrain NODE`` — lift the drain mark.

A node that is not registered prints ``salon: unknown_node: sentence`` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server.cluster.registry import NodeRegistry, UnknownNode
from server.redis_client import connect
from server.settings import Settings

COMMANDS = ("nodes",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    nodes = sub.add_parser("nodes", help="the Salon nodes sharing this Redis")
    group = nodes.add_subparsers(dest="action", required=True)
    group.add_parser("list", help="every live node and its load", parents=[common])
    for name, help_text in (
        ("drain", "take no new room on NODE (its live rooms finish there)"),
        ("undrain", "let NODE take new rooms again"),
    ):
        cmd = group.add_parser(name, help=help_text, parents=[common])
        cmd.add_argument("node_id")


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


def sentence(exc: UnknownNode) -> str:
    return f"no live node is registered as {exc.node_id!r} (see `salon nodes list`)."


async def run(args: argparse.Namespace, settings: Settings) -> int:
    redis = connect(settings.redis.url, 5)
    registry = NodeRegistry(redis, settings.node.ttl)
    try:
        if args.action == "list":
            result: Any = [node.to_json() for node in await registry.nodes()]
        elif args.action == "drain":
            result = (await registry.drain(args.node_id)).to_json()
        else:
            result = {"id": args.node_id, "undrained": await registry.undrain(args.node_id)}
    except UnknownNode as exc:
        print(f"salon: {exc.code}: {sentence(exc)}", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
