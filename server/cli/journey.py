"""The ``salon`` commands around a session (hooked into ``server/cli/main.py``):

- ``salon webhooks add URL [--kinds K,K] [--secret S] | list | remove ID | deliveries ID``;
- ``salon sessions schedule ID --room R --title T --starts-at TIME [...] | list | show ID``;
- ``salon hooks add SESSION --channel C [--registration] [--code CODE] [--coupon ID] | list |
  funnel``.

Refusals print ``salon: CODE: sentence`` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server.engagement.funnel_hooks import hook_funnel
from server.hooks.coupons import add_link
from server.hooks.model import HookError, parse_session
from server.hooks.store import HookStore
from server.ids import RoomId
from server.redis_client import RedisClient, connect
from server.rooms.coupon_store import CouponStore
from server.rooms.store import RoomStore
from server.settings import Settings
from server.webhooks.store import KINDS, WebhookError, WebhookStore

COMMANDS = ("webhooks", "sessions", "hooks")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    def group(name: str, help: str) -> Any:
        return sub.add_parser(name, help=help, parents=[common]).add_subparsers(
            dest="action", required=True
        )

    def command(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = parent.add_parser(name, help=help, parents=[common])
        return made

    hooks = group("webhooks", "webhook endpoints and their deliveries")
    add = command(hooks, "add", "register an endpoint (prints its secret once)")
    add.add_argument("url")
    add.add_argument("--kinds", default="*", help=f"comma-separated: {','.join(KINDS)} or *")
    add.add_argument("--secret", help="signing secret (default: generated)")
    command(hooks, "list", "list endpoints")
    remove = command(hooks, "remove", "remove an endpoint and its queue")
    remove.add_argument("endpoint_id")
    deliveries = command(hooks, "deliveries", "an endpoint's newest deliveries")
    deliveries.add_argument("endpoint_id")
    deliveries.add_argument("--limit", type=int, default=50)

    sessions = group("sessions", "scheduled sessions")
    schedule = command(sessions, "schedule", "schedule or reschedule a session")
    schedule.add_argument("session_id")
    schedule.add_argument("--room", required=True)
    schedule.add_argument("--title", required=True)
    schedule.add_argument("--starts-at", required=True, help="ISO 8601 with a zone")
    schedule.add_argument("--duration", type=int, default=60, help="minutes (default 60)")
    schedule.add_argument("--tiers", default="core,active,potential")
    schedule.add_argument("--capacity", type=int, default=100)
    schedule.add_argument("--cover", help="cover image: https URL or /static/ path")
    command(sessions, "list", "list sessions")
    show = command(sessions, "show", "a session and its RSVPs")
    show.add_argument("session_id")

    links = group("hooks", "hook links (/r/CODE) and their funnel")
    link = command(links, "add", "create a hook link for a channel")
    link.add_argument("session_id")
    link.add_argument("--channel", required=True)
    link.add_argument("--registration", action="store_true", help="let visitors register")
    link.add_argument("--code", help="the link's code (default: generated)")
    link.add_argument("--coupon", help="a coupon id an RSVP through the link claims")
    command(links, "list", "list hook links")
    command(links, "funnel", "visits, registrations, RSVPs, joins, buys per link and channel")


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


async def run(args: argparse.Namespace, settings: Settings) -> int:
    redis = connect(settings.redis.url, 5)
    try:
        if args.command == "webhooks":
            await _webhooks(args, WebhookStore(redis))
        else:
            await _hooks(args, redis, HookStore(redis))
    except (WebhookError, HookError) as exc:
        print(f"salon: {exc.code}: {exc.sentence()}", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()
    return 0


async def _webhooks(args: argparse.Namespace, store: WebhookStore) -> None:
    if args.action == "add":
        _print((await store.add(args.url, args.kinds, args.secret)).to_json(with_secret=True))
    elif args.action == "list":
        for e in await store.endpoints():
            print(f"{e.id}\t{e.url}\tkinds={','.join(e.kinds)}")
    elif args.action == "remove":
        await store.remove(args.endpoint_id)
        print(f"removed {args.endpoint_id}")
    else:
        for d in await store.deliveries(args.endpoint_id, max(1, min(args.limit, 500))):
            status = d.get("last_status") or d.get("last_error") or ""
            print(f"{d['id']}\t{d['kind']}\t{d['state']}\tattempts={d['attempts']}\t{status}")


async def _hooks(args: argparse.Namespace, redis: RedisClient, store: HookStore) -> None:
    if args.command == "sessions" and args.action == "schedule":
        body = {
            "room_id": args.room,
            "title": args.title,
            "starts_at": args.starts_at,
            "duration_min": args.duration,
            "tiers": args.tiers,
            "capacity": args.capacity,
            "cover_url": args.cover,
        }
        session = parse_session(args.session_id, body)
        if await RoomStore(redis).get(RoomId(session.room_id)) is None:
            raise HookError("not_found", what="room", id=session.room_id)
        await store.put_session(session)
        _print(session.to_json())
    elif args.command == "sessions" and args.action == "list":
        for s in await store.sessions():
            print(f"{s.id}\t{s.room_id}\t{s.starts_ms}\t{s.title}")
    elif args.command == "sessions":
        session = await store.session(args.session_id)
        _print({**session.to_json(), "rsvps": await store.rsvps(session.id)})
    elif args.action == "add":
        session = await store.session(args.session_id)
        body = {
            "channel": args.channel,
            "registration": args.registration,
            "code": args.code,
            "coupon": args.coupon,
        }
        made = await add_link(store, CouponStore(redis), session, body)
        _print(made.to_json())
    elif args.action == "list":
        for k in await store.links():
            print(
                f"/r/{k.code}\t{k.channel}\tsession={k.session_id}\tregistration={k.registration}"
            )
    else:
        known = {k.code: k.channel for k in await store.links()}
        _print(await hook_funnel(redis, known))
