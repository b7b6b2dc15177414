"""The ``salon replays`` commands (hooked into ``server/cli/main.py``):

- ``salon replays record ROOM_ID on|off`` — the room's recording toggle (sessions that go
  live from now on are recorded; a session live now is started or stopped only by the
  REST call, which reaches the node holding it);
- ``salon replays list ROOM_ID`` — the room's recorded sessions, newest first (JSON).

A room that does not exist prints ``salon: room_not_found: sentence`` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server import operations as ops
from server.error_text import sentence
from server.ids import RoomId
from server.redis_client import connect
from server.rooms.errors import RoomNotFound
from server.rooms.replay_store import ReplayStore
from server.rooms.store import RoomStore
from server.settings import Settings

COMMANDS = ("replays",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    replays = sub.add_parser("replays", help="recorded sessions and the recording toggle")
    group = replays.add_subparsers(dest="action", required=True)
    record = group.add_parser("record", help="turn a room's recording on or off", parents=[common])
    record.add_argument("room_id")
    record.add_argument("state", choices=("on", "off"))
    listing = group.add_parser("list", help="a room's recorded sessions", parents=[common])
    listing.add_argument("room_id")


def wants(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS


async def run(args: argparse.Namespace, settings: Settings) -> int:
    room_id = RoomId(ops.check_id(args.room_id, "room id"))
    redis = connect(settings.redis.url, 5)
    store = ReplayStore(redis, settings.replay.dir)
    try:
        if await RoomStore(redis).get(room_id) is None:
            error = RoomNotFound(room_id)
            print(f"salon: {error.code}: {sentence(error)}", file=sys.stderr)
            return 2
        if args.action == "record":
            await store.set_recording(room_id, args.state == "on")
            result: Any = {"room_id": room_id, "on": await store.recording_on(room_id)}
        else:
            result = await store.sessions(room_id)
    finally:
        await redis.aclose()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
