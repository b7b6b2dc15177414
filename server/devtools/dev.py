"""``make run``: an embedded Redis, a demo room with demo members, links, and the server.

Uses ``SALON_REDIS_URL`` when set instead of starting Redis; generates ``SALON_SECRET``
and ``SALON_ADMIN_KEY`` for this run when they are not set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

from server import operations as ops
from server.devtools.redis_embed import EmbeddedRedis, free_port, start_redis
from server.engagement.members import MemberStore
from server.redis_client import connect
from server.rooms.store import RoomStore
from server.settings import Settings, load_settings

DEMO_ROOM = "vip-preview"
DEMO_MEMBERS = [
    ("ava", "Ava Chen", "core"),
    ("ben", "Ben Okafor", "core"),
    ("cleo", "Cleo Martin", "active"),
    ("dan", "Dan Silva", "active"),
    ("eve", "Eve Novak", "potential"),
    ("finn", "Finn Berg", "potential"),
    ("gus", "Gus Tanaka", "silent"),
    ("hana", "Hana Ito", "silent"),
]
HOST = ("host", "Hosting team")


async def seed(settings: Settings) -> None:
    redis = connect(settings.redis.url, 5, read_timeout=0)
    try:
        members, rooms = MemberStore(redis), RoomStore(redis)
        # Potential and silent members are scored from the start: taking part and buying
        # moves them up (eve, invited, can show the loop). Core and active members stay as
        # seeded: with no history yet, scoring would demote them at once.
        for member_id, name, tier in DEMO_MEMBERS:
            auto = tier in ("potential", "silent")
            await ops.set_member(members, member_id, tier, name, auto=auto)
        await ops.set_member(members, HOST[0], "core", HOST[1])
        await ops.create_room(
            rooms,
            DEMO_ROOM,
            "VIP preview: the autumn drop",
            "core,active",
            capacity=50,
            invites=["eve"],
        )
    finally:
        await redis.aclose()


def links(settings: Settings) -> list[str]:
    base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
    lines = []
    token = ops.make_token(settings.auth, HOST[0], DEMO_ROOM, "host", 12 * 3600)
    lines.append(f"  host            {base}/rooms/{DEMO_ROOM}?token={token}")
    for member_id, _name, tier in DEMO_MEMBERS:
        token = ops.make_token(settings.auth, member_id, DEMO_ROOM, "member", 12 * 3600)
        note = " (invited)" if member_id == "eve" else ""
        lines.append(f"  {member_id:<5} {tier + note:<19} {base}/rooms/{DEMO_ROOM}?token={token}")
    return lines


def main() -> int:
    os.environ.setdefault("SALON_SECRET", secrets.token_urlsafe(32))
    os.environ.setdefault("SALON_ADMIN_KEY", secrets.token_urlsafe(24))
    embedded: EmbeddedRedis | None = None
    if "SALON_REDIS_URL" not in os.environ:
        embedded = start_redis(free_port())
        os.environ["SALON_REDIS_URL"] = embedded.url
    overrides = {} if "SALON_ICE_ADDRESSES" in os.environ else {"media.ice_addresses": "127.0.0.1"}
    try:
        settings = load_settings(overrides=overrides)
        asyncio.run(seed(settings))
        print(f"Redis: {settings.redis.url}{' (embedded)' if embedded else ''}")
        print(f"Admin key for the REST API: {settings.auth.admin_key}")
        # The CLI (.venv/bin/salon) needs the same secret and Redis to mint tokens for this run.
        print(
            "For `.venv/bin/salon` in another shell: "
            f"export SALON_SECRET={settings.auth.secret} SALON_REDIS_URL={settings.redis.url}"
        )
        base = settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"
        print(f"Operator dashboard (asks for the admin key): {base}/dashboard")
        print(f"Room '{DEMO_ROOM}' admits core and active members (and invited eve). Links:")
        print("\n".join(links(settings)), flush=True)
        from server.app import run

        run(settings)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
