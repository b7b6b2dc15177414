"""The engagement event schema (version 1) and its msgpack wire form.

This module owns what an event *is*: its kinds, its fields, and the one place where
bytes from the stream become an ``Event`` (``decode``) or the other way (``encode``).
It does no I/O. The recorder appends encoded events to ``STREAM_KEY``; the scorer and
any later consumer read them back through ``decode``.

Wire form: a msgpack map ``{"v", "id", "kind", "room_id", "member_id", "ts_ms", "data"}``.
Unknown top-level keys are ignored so that version 1 can gain optional fields; a change
that old readers must not misread bumps ``v``.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import msgpack

from server.ids import MemberId, is_valid_id

SCHEMA_VERSION: Final = 1

# One stream for every event; the hash tag keeps it in one slot on Redis Cluster.
STREAM_KEY: Final = "salon:{events}:stream"
# The only field of a stream entry: the msgpack-encoded event.
STREAM_FIELD: Final = b"e"


class EventKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    CHAT = "chat"
    REACTION = "reaction"
    QUESTION = "question"
    UPVOTE = "upvote"
    POLL_VOTE = "poll_vote"
    HAND_RAISE = "hand_raise"
    STAGE_SECONDS = "stage_seconds"
    PRODUCT_CLICK = "product_click"
    PURCHASE = "purchase"
    SHARE = "share"
    EXTERNAL = "external"


class EventDecodeError(ValueError):
    """Bytes that are not a version-1 event; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a member did. ``data`` holds the kind-specific fields.

    Examples of ``data``: leave → ``{"watch_seconds": float}``.
    """

    id: str
    v: int
    kind: EventKind
    room_id: str
    member_id: MemberId
    ts_ms: int
    # A dict cannot be hashed: events hash by their other fields (the id is unique anyway).
    data: dict[str, Any] = field(default_factory=dict, hash=False)


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds (the unit of ``Event.ts_ms``)."""
    return time.time_ns() // 1_000_000


def new_event(kind: EventKind | str, room_id: str, member_id: MemberId, /, **data: Any) -> Event:
    """Create an event stamped now with a fresh id; keyword arguments become ``data``.

    The first three are positional-only, so ``data`` may itself hold a ``room_id`` key.

    Raises ``ValueError`` for an unknown kind or an id that ``decode`` would refuse, so
    that an event which could not be read back is never recorded.
    """
    if not is_valid_id(member_id):
        raise ValueError(f"member_id {member_id!r} is not a valid id")
    if room_id and not is_valid_id(room_id):
        raise ValueError(f"room_id {room_id!r} is not a valid id")
    return Event(
        id=uuid.uuid4().hex,
        v=SCHEMA_VERSION,
        kind=EventKind(kind),
        room_id=room_id,
        member_id=member_id,
        ts_ms=now_ms(),
        data=dict(data),
    )


def encode(event: Event) -> bytes:
    """The msgpack bytes of ``event``. Raises (``TypeError``, ``OverflowError``…) if
    ``data`` holds a value msgpack cannot carry, such as a datetime or a 2**70."""
    payload = {
        "v": event.v,
        "id": event.id,
        "kind": event.kind.value,
        "room_id": event.room_id,
        "member_id": event.member_id,
        "ts_ms": event.ts_ms,
        "data": event.data,
    }
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return packed


def _field(obj: dict[Any, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in obj:
        raise EventDecodeError(f"event has no {name!r} field")
    value = obj[name]
    # bool is an int subclass: True is not a version or a timestamp.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise EventDecodeError(f"event field {name!r} has type {type(value).__name__}")
    return value


def decode(raw: bytes) -> Event:
    """Parse stream bytes into an ``Event`` or raise ``EventDecodeError`` saying why."""
    try:
        obj = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise EventDecodeError(f"not msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError(f"event is a {type(obj).__name__}, not a map")
    version = _field(obj, "v", int)
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"unsupported event schema version {version}")
    event_id = _field(obj, "id", str)
    if not event_id:
        raise EventDecodeError("event id is empty")
    kind_name = _field(obj, "kind", str)
    try:
        kind = EventKind(kind_name)
    except ValueError:
        raise EventDecodeError(f"unknown event kind {kind_name!r}") from None
    room_id = _field(obj, "room_id", str)
    if room_id and not is_valid_id(room_id):
        raise EventDecodeError(f"room_id {room_id!r} is not a valid id")
    member_id = _field(obj, "member_id", str)
    if not is_valid_id(member_id):
        raise EventDecodeError(f"member_id {member_id!r} is not a valid id")
    ts_ms = _field(obj, "ts_ms", int)
    data = _field(obj, "data", dict)
    if not all(isinstance(key, str) for key in data):
        raise EventDecodeError("event data keys must be strings")
    return Event(
        id=event_id,
        v=version,
        kind=kind,
        room_id=room_id,
        member_id=MemberId(member_id),
        ts_ms=ts_ms,
        data=data,
    )


def number(data: dict[str, Any], key: str) -> float | None:
    """``data[key]`` as a finite float, or None if it is missing or not a real number."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None
