"""The ``salon`` command: serve, and the operator's members, rooms and token commands.

Every command reads ``SALON_REDIS_URL`` and ``SALON_SECRET`` (and the other ``SALON_*``
settings); flags override them. Bad input prints one clear line and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from server import operations as ops
from server.cli import consult as consult_cli
from server.cli import engagement as engagement_cli
from server.cli import journey as journey_cli
from server.cli import nodes as nodes_cli
from server.cli import replays as replays_cli
from server.cli import rewards as rewards_cli
from server.cli import scorer as scorer_cli
from server.cli import workers
from server.cli.output import say
from server.engagement.members import TIER_NAMES, MemberStore
from server.http.common import text_code
from server.ids import MemberId
from server.redis_client import RedisClient, connect
from server.rooms.bans import BanStore
from server.rooms.store import RoomStore
from server.settings import Settings, SettingsError, load_settings
from server.text import TextError


def _parser() -> argparse.ArgumentParser:
    # --config and --redis-url are accepted before or after any command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="settings TOML file (default: $SALON_CONFIG)"
    )
    common.add_argument(
        "--redis-url", default=argparse.SUPPRESS, help="Redis URL (default: $SALON_REDIS_URL)"
    )
    parser = argparse.ArgumentParser(
        prog="salon", description=__doc__.splitlines()[0], parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(group: Any, name: str, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = group.add_parser(name, help=help, parents=[common])
        return made

    serve = command(sub, "serve", "run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--ice-address",
        action="append",
        default=None,
        metavar="IP",
        help="address offered as an ICE host candidate (repeatable)",
    )
    serve.add_argument("--rtp-ports", metavar="LO-HI", help="UDP port range for media")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="Salon nodes on this host sharing the port, or 'auto' for one per core (default 1)",
    )
    # Set by the supervisor of --workers N on each worker's command line.
    serve.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--internal-port", type=int, default=None, help=argparse.SUPPRESS)

    members = sub.add_parser("members", help="member records").add_subparsers(
        dest="action", required=True
    )
    mset = command(members, "set", "create or update a member")
    mset.add_argument("member_id")
    mset.add_argument("--tier", required=True, choices=TIER_NAMES)
    mset.add_argument("--name")
    mset.add_argument(
        "--auto",
        action="store_true",
        help="let scoring move the member from this tier (default: the tier stays as set)",
    )
    mget = command(members, "get", "show a member")
    mget.add_argument("member_id")
    engagement_cli.add_commands(sub, members, common)
    rewards_cli.add_commands(sub, common)
    journey_cli.add_commands(sub, common)
    consult_cli.add_commands(sub, common)
    nodes_cli.add_commands(sub, common)
    replays_cli.add_commands(sub, common)
    scorer_cli.add_commands(sub, common)

    rooms = sub.add_parser("rooms", help="room definitions").add_subparsers(
        dest="action", required=True
    )
    rcreate = command(rooms, "create", "create or replace a room")
    rcreate.add_argument("room_id")
    rcreate.add_argument("--title", required=True)
    rcreate.add_argument("--tiers", required=True, help="comma-separated, e.g. core,active")
    rcreate.add_argument("--capacity", type=int, default=50)
    rcreate.add_argument("--invite", action="append", default=[], metavar="MEMBER_ID")
    rcreate.add_argument(
        "--speakers", type=int, default=6, help="most speakers on stage at once (default 6)"
    )
    rcreate.add_argument(
        "--speaker-cameras", action="store_true", help="speakers may publish a camera too"
    )
    rcreate.add_argument(
        "--refusal-link",
        default=None,
        metavar="URL",
        help="the next step the refusal page offers people the room turns away",
    )
    command(rooms, "list", "list rooms")

    bans = sub.add_parser("bans", help="room bans").add_subparsers(dest="action", required=True)
    blist = command(bans, "list", "list the members banned from a room")
    blist.add_argument("room_id")
    for name, help_text in (("add", "ban a member from a room"), ("remove", "lift a ban")):
        bcmd = command(bans, name, help_text)
        bcmd.add_argument("room_id")
        bcmd.add_argument("member_id")

    removals = sub.add_parser(
        "removals", help="send a member out of a live room now"
    ).add_subparsers(dest="action", required=True)
    radd = command(removals, "add", "remove a member from a room without banning them")
    radd.add_argument("room_id")
    radd.add_argument("member_id")

    token = command(sub, "token", "print a signed entry token")
    token.add_argument("member_id")
    token.add_argument("--room", required=True)
    token.add_argument("--role", default="member", choices=("host", "member"))
    token.add_argument("--ttl", type=int)
    return parser


def _settings(args: argparse.Namespace, need_secret: bool) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "redis_url", None):
        overrides["redis.url"] = args.redis_url
    if args.command == "serve":
        if args.host:
            overrides["server.host"] = args.host
        if args.port is not None:
            overrides["server.port"] = args.port
        if args.ice_address:
            overrides["media.ice_addresses"] = ",".join(args.ice_address)
        if args.rtp_ports:
            overrides["media.rtp_ports"] = args.rtp_ports
    return load_settings(
        getattr(args, "config", None), overrides=overrides, need_secret=need_secret
    )


async def _with_redis(settings: Settings, work: Callable[[RedisClient], Awaitable[Any]]) -> Any:
    redis = connect(settings.redis.url, 5)
    try:
        return await work(redis)
    finally:
        await redis.aclose()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


async def _operate(args: argparse.Namespace, settings: Settings) -> int:
    async def work(redis: RedisClient) -> int:
        members, rooms = MemberStore(redis), RoomStore(redis)
        if args.command == "bans":
            return await _bans(args, BanStore(redis), redis)
        if args.command == "removals":
            nodes = await ops.remove(redis, args.room_id, args.member_id)
            print(f"removal of {args.member_id} from {args.room_id} sent to {nodes} node(s)")
            return 0
        if args.command == "members" and args.action == "set":
            _print_json(
                (
                    await ops.set_member(members, args.member_id, args.tier, args.name, args.auto)
                ).to_json()
            )
        elif args.command == "members":
            member = await members.get(MemberId(ops.check_id(args.member_id, "member id")))
            if member is None:
                print(f"salon: no member '{args.member_id}'", file=sys.stderr)
                return 1
            _print_json(member.to_json())
        elif args.action == "create":
            spec = await ops.create_room(
                rooms,
                args.room_id,
                args.title,
                args.tiers,
                args.capacity,
                args.invite,
                args.speakers,
                args.speaker_cameras,
                args.refusal_link,
            )
            _print_json(spec.to_json())
        else:
            for spec in await rooms.list():
                tiers = ",".join(t.value for t in spec.tiers)
                print(f"{spec.room_id}\t{spec.title}\ttiers={tiers}\tcapacity={spec.capacity}")
        return 0

    result: int = await _with_redis(settings, work)
    return result


async def _bans(args: argparse.Namespace, store: BanStore, redis: RedisClient) -> int:
    if args.action == "list":
        for member_id in await ops.list_bans(store, args.room_id):
            print(member_id)
    elif args.action == "add":
        nodes = await ops.ban(store, redis, args.room_id, args.member_id)
        print(f"banned {args.member_id} from {args.room_id} (removal sent to {nodes} node(s))")
    elif not await ops.unban(store, args.room_id, args.member_id):
        print(f"salon: {args.member_id} is not banned from {args.room_id}", file=sys.stderr)
        return 1
    else:
        print(f"lifted the ban on {args.member_id} in {args.room_id}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings, argv: list[str]) -> int:
    """One process (--workers 1), a worker of a supervisor, or the supervisor itself."""
    count = workers.worker_count(args.workers)
    if args.worker_index is not None and args.internal_port is not None:
        from server.app import run

        mine = workers.worker_settings(settings, count, args.worker_index, args.internal_port)
        run(mine, print_ready=False, reuse_port=True, internal_port=args.internal_port)
        return 0
    if count > 1:
        return workers.supervise(settings, count, argv)
    from server.app import run

    run(settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            settings = _settings(args, need_secret=True)
            # A worker of --workers N names itself on every line (wK).
            worker = "" if args.worker_index is None else f"w{args.worker_index} "
            logging.basicConfig(
                level=args.log_level.upper(),
                format=f"%(asctime)s %(levelname)s {worker}%(name)s: %(message)s",
            )
            return _serve(args, settings, sys.argv[1:] if argv is None else argv)
        if args.command == "token":
            settings = _settings(args, need_secret=True)
            print(ops.make_token(settings.auth, args.member_id, args.room, args.role, args.ttl))
            return 0
        if rewards_cli.wants(args):
            return asyncio.run(rewards_cli.run(args, _settings(args, need_secret=False)))
        if nodes_cli.wants(args):
            return asyncio.run(nodes_cli.run(args, _settings(args, need_secret=False)))
        if consult_cli.wants(args):
            return asyncio.run(consult_cli.run(args, _settings(args, need_secret=False)))
        if replays_cli.wants(args):
            return asyncio.run(replays_cli.run(args, _settings(args, need_secret=False)))
        if journey_cli.wants(args):
            return asyncio.run(journey_cli.run(args, _settings(args, need_secret=False)))
        if scorer_cli.wants(args):
            return scorer_cli.run(
                args, _settings(args, need_secret=False), sys.argv[1:] if argv is None else argv
            )
        if engagement_cli.wants(args):
            return asyncio.run(engagement_cli.run(args, _settings(args, need_secret=False)))
        return asyncio.run(_operate(args, _settings(args, need_secret=False)))
    except SettingsError as exc:
        say(f"salon: settings: {exc}", err=True)
        return 2
    except ops.InputError as exc:
        print(f"salon: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except TextError as exc:
        print(f"salon: {text_code(exc)}: {exc.sentence()}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:
        print(f"salon: cannot reach Redis: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
