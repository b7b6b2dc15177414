"""The ``salon`` commands about rewards (hooked into ``server/cli/main.py``):

- ``salon coupons set ID --title T --value 10.00 --count N [--tiers core,active]
  [--per-member N] [--pattern SALON-######] [--expires-ms MS]`` — define a coupon;
- ``salon coupons list`` / ``salon coupons show ID`` — claims and redemptions per drop;
- ``salon points show MEMBER`` — balance, streak and the latest changes;
- ``salon points reward ID --title T --cost N --coupon C`` / ``salon points rewards`` —
  the rewards redeemable for points;
- ``salon rewards room ROOM`` — a room's drops, draws (audit checked) and quizzes;
  ``salon rewards totals`` — points issued and redeemed, check-ins, coupons.

Everything prints JSON; a refusal prints ``salon: CODE: sentence`` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server import reward_ops as ops
from server.error_text import sentence
from server.redis_client import RedisClient, connect
from server.rooms.coupon_store import CouponStore
from server.rooms.points_store import PointsStore
from server.rooms.reward_errors import RewardError
from server.rooms.room_rewards_store import RoomRewardsStore
from server.settings import Settings
from server.text import TextError

COMMANDS = ("coupons", "points", "rewards")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    def command(group: Any, name: str, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = group.add_parser(name, help=help, parents=[common])
        return made

    coupons = sub.add_parser("coupons", help="coupon definitions and their figures")
    cgroup = coupons.add_subparsers(dest="action", required=True)
    cset = command(cgroup, "set", "create or replace a coupon")
    cset.add_argument("coupon_id")
    cset.add_argument("--title", required=True)
    cset.add_argument("--value", required=True, help="amount off, e.g. 10.00")
    cset.add_argument("--count", required=True, type=int, help="codes in stock")
    cset.add_argument("--tiers", default="", help="eligible tiers, comma-separated (default: all)")
    cset.add_argument("--per-member", type=int, default=1)
    cset.add_argument("--pattern", default="SALON-########", help="'#': a random character")
    cset.add_argument("--expires-ms", type=int, default=0, help="epoch ms (0: never)")
    command(cgroup, "list", "every coupon with its figures")
    show = command(cgroup, "show", "a coupon's claims and redemptions per drop")
    show.add_argument("coupon_id")

    points = sub.add_parser("points", help="reward points and what they buy")
    pgroup = points.add_subparsers(dest="action", required=True)
    pshow = command(pgroup, "show", "a member's balance, streak and ledger")
    pshow.add_argument("member_id")
    reward = command(pgroup, "reward", "create or replace a reward redeemable for points")
    reward.add_argument("reward_id")
    reward.add_argument("--title", required=True)
    reward.add_argument("--cost", required=True, type=int)
    reward.add_argument("--coupon", required=True)
    command(pgroup, "rewards", "the rewards redeemable for points")

    views = sub.add_parser("rewards", help="rooms' drops, draws and quizzes; totals")
    vgroup = views.add_subparsers(dest="action", required=True)
    vroom = command(vgroup, "room", "a room's drops, draws (with audit) and quizzes")
    vroom.add_argument("room_id")
    command(vgroup, "totals", "points issued and redeemed, check-ins, coupons")


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


async def _work(args: argparse.Namespace, redis: RedisClient) -> Any:
    coupons, points, records = CouponStore(redis), PointsStore(redis), RoomRewardsStore(redis)
    match (args.command, args.action):
        case ("coupons", "set"):
            fields = {
                "title": args.title,
                "value": args.value,
                "count": args.count,
                "tiers": args.tiers,
                "per_member": args.per_member,
                "pattern": args.pattern,
                "expires_ms": args.expires_ms,
            }
            return (await ops.put_coupon(coupons, args.coupon_id, fields)).to_json()
        case ("coupons", "list"):
            return await ops.coupons(coupons)
        case ("coupons", _):
            return await ops.coupon(coupons, args.coupon_id)
        case ("points", "show"):
            return await ops.member_points(points, args.member_id)
        case ("points", "reward"):
            body = {"title": args.title, "cost": args.cost, "coupon": args.coupon}
            return await ops.put_reward(points, coupons, args.reward_id, body)
        case ("points", _):
            return await points.rewards()
        case (_, "room"):
            return await ops.room_rewards(records, args.room_id)
        case _:
            return await ops.totals(points, coupons)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    redis = connect(settings.redis.url, 5, read_timeout=10)
    try:
        result = await _work(args, redis)
    except RewardError as exc:
        print(f"salon: {exc.code}: {sentence(exc)}", file=sys.stderr)
        return 2
    except TextError as exc:
        print(f"salon: {exc.code}: {exc.sentence()}", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
