"""Operator actions shared by the CLI and the REST API: validate input, then write.

Every check runs before any write; bad input raises ``InputError(code, message)``, or
``TextError`` (``server/text.py``) for a name or title that breaks the text rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.engagement.members import TIER_NAMES, Member, MemberStore, Tier
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.bans import BanStore
from server.rooms.model import CONSULT_PREFIX, Role, RoomSpec
from server.rooms.removals import Removal, publish_removal
from server.rooms.store import RoomStore
from server.rooms.tokens import mint_token
from server.settings import AuthSettings
from server.text import clean_label

MAX_TITLE = 120
MAX_NAME = 80
MAX_CAPACITY = 10_000
MAX_TTL = 30 * 24 * 3600
MAX_SPEAKERS = 50
MAX_LINK = 500


class InputError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_id(value: Any, what: str) -> str:
    if not is_valid_id(value):
        raise InputError(
            "invalid_id",
            f"{what} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit (got {str(value)[:70]!r}).",
        )
    return str(value)


def parse_tier(value: Any) -> Tier:
    if value not in TIER_NAMES:
        raise InputError(
            "invalid_tier",
            f"tier must be one of {', '.join(TIER_NAMES)} (got {str(value)[:40]!r}).",
        )
    return Tier(value)


def parse_tiers(value: Any) -> tuple[Tier, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InputError("invalid_tier", "tiers must be a comma-separated list or a list.")
    tiers = tuple(dict.fromkeys(parse_tier(str(t).strip()) for t in items if str(t).strip()))
    return tiers


def _link(value: Any, what: str) -> str:
    """An absolute http(s) address, or "" for none (``None`` or an empty string)."""
    if value is None or value == "":
        return ""
    text = clean_label(value, what, MAX_LINK)
    scheme, _, rest = text.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or any(c.isspace() for c in text):
        raise InputError("invalid_field", f"{what} must be an http(s) address.")
    return text


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError("invalid_field", f"{what} must be a whole number from {low} to {high}.")
    return value


async def set_member(
    store: MemberStore, member_id: Any, tier: Any, name: Any = None, auto: Any = False
) -> Member:
    """Set a member's tier: kept as set, or (``auto``) from now on moved by scoring."""
    mid = MemberId(check_id(member_id, "member id"))
    parsed = parse_tier(tier)
    clean = None if name is None else clean_label(name, "name", MAX_NAME)
    if not isinstance(auto, bool):
        raise InputError("invalid_field", "auto must be true or false.")
    return await store.set(mid, parsed, clean, pinned=not auto)


async def create_room(
    store: RoomStore,
    room_id: Any,
    title: Any,
    tiers: Any,
    capacity: Any = 50,
    invites: Iterable[Any] = (),
    speaker_cap: Any = 6,
    speaker_cameras: Any = False,
    refusal_link: Any = None,
) -> RoomSpec:
    if check_id(room_id, "room id").startswith(CONSULT_PREFIX):
        # Their gate is the consultation's (two people): re-saving one would open it.
        raise InputError(
            "reserved_id", f"Room ids starting with {CONSULT_PREFIX!r} are kept for consultations."
        )
    spec = RoomSpec(
        room_id=RoomId(check_id(room_id, "room id")),
        title=clean_label(title, "title", MAX_TITLE),
        tiers=parse_tiers(tiers),
        capacity=_int(capacity, "capacity", 1, MAX_CAPACITY),
        invites=frozenset(MemberId(check_id(i, "invited member id")) for i in invites),
        speaker_cap=_int(speaker_cap, "speaker_cap", 0, MAX_SPEAKERS),
        speaker_cameras=_bool(speaker_cameras, "speaker_cameras"),
        refusal_link=_link(refusal_link, "refusal_link"),
    )
    await store.save(spec)
    return spec


def make_token(
    auth: AuthSettings, member_id: Any, room_id: Any, role: Any = "member", ttl: Any = None
) -> str:
    mid = MemberId(check_id(member_id, "member id"))
    rid = RoomId(check_id(room_id, "room id"))
    if role not in (Role.HOST.value, Role.MEMBER.value):
        raise InputError("invalid_role", f"role must be host or member (got {str(role)[:20]!r}).")
    seconds = auth.token_ttl if ttl is None else _int(ttl, "ttl", 1, MAX_TTL)
    return mint_token(auth.secret, mid, rid, Role(role), seconds, auth.issuer)


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InputError("invalid_field", f"{what} must be true or false.")
    return value


# --- bans (a moderator bans in the room; operators list and lift bans) -------------------


async def list_bans(store: BanStore, room_id: Any) -> list[MemberId]:
    return await store.list(RoomId(check_id(room_id, "room id")))


async def unban(store: BanStore, room_id: Any, member_id: Any) -> bool:
    """Lift a ban; False when the member was not banned from that room."""
    rid = RoomId(check_id(room_id, "room id"))
    return await store.unban(rid, MemberId(check_id(member_id, "member id")))


async def ban(store: BanStore, redis: RedisClient, room_id: Any, member_id: Any) -> int:
    """Ban the member, then expel them from the room on whichever node they are.

    Returns the number of nodes that received the order (``server/rooms/removals.py``)."""
    rid = RoomId(check_id(room_id, "room id"))
    mid = MemberId(check_id(member_id, "member id"))
    await store.ban(rid, mid)
    return await publish_removal(redis, Removal(rid, mid, banned=True))


async def remove(redis: RedisClient, room_id: Any, member_id: Any) -> int:
    """Expel the member from the room now, without a ban (they may rejoin)."""
    rid = RoomId(check_id(room_id, "room id"))
    mid = MemberId(check_id(member_id, "member id"))
    return await publish_removal(redis, Removal(rid, mid, banned=False))
