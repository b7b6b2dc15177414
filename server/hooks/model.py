"""Scheduled sessions and hook links: their shape and the pure checks of operator input.

Every check raises ``HookError(code, **params)``; ``HookError.sentence`` renders it for
the REST edge and the CLI.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from server.ids import is_valid_id
from server.text import TextError, clean_label

MAX_TITLE: Final = 120
MAX_CHANNEL: Final = 40
MAX_CAPACITY: Final = 100_000
MAX_DURATION: Final = 24 * 60
_CODE = re.compile(r"^[A-Za-z0-9_-]{3,32}$")
_TIERS: Final = ("core", "active", "potential", "silent")


class HookError(ValueError):
    """Refused input or state: ``code`` for programs, ``params`` for the sentence."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def status(self) -> int:
        return {"not_found": 404, "full": 409, "code_taken": 409, "tier_too_low": 403}.get(
            self.code, 400
        )

    def sentence(self) -> str:
        p = self.params
        match self.code:
            case "not_found":
                return f"No {p['what']} {p['id']!r}."
            case "text":
                return str(p["sentence"])
            case "bad_id":
                return f"'{p['field']}' must be an id: letters, digits, '.', '_' or '-'."
            case "bad_time":
                return "starts_at must be an ISO 8601 time with a zone, or epoch milliseconds."
            case "bad_number":
                return f"'{p['field']}' must be a whole number from {p['low']} to {p['high']}."
            case "bad_tiers":
                return f"tiers must be a non-empty list of {', '.join(_TIERS)}."
            case "bad_url":
                return "cover_url must be an https URL or a path under /static/."
            case "bad_code":
                return "A hook code is 3-32 letters, digits, '_' or '-'."
            case "code_taken":
                return f"The hook code {p['taken']!r} is taken."
            case "full":
                return "The session is full: no RSVP is left."
            case "tier_too_low":
                return f"This session is for {', '.join(p['tiers'])} members."
            case "registration_closed":
                return "This link does not take registrations: open it with your member link."
            case "bad_token":
                return "The member link is not valid for this session."
            case _:
                return "The session is over."


def _label(value: Any, field: str, limit: int) -> str:
    try:
        return clean_label(value, field, limit)
    except TextError as exc:
        raise HookError("text", sentence=exc.sentence()) from None


def _number(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HookError("bad_number", field=field, low=low, high=high)
    return value


def check_id(value: Any, field: str) -> str:
    if not is_valid_id(value):
        raise HookError("bad_id", field=field)
    return str(value)


def parse_time_ms(value: Any) -> int:
    """Epoch milliseconds from an int or an ISO 8601 string that names its zone."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**47:
        return value
    if not isinstance(value, str) or len(value) > 40:
        raise HookError("bad_time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HookError("bad_time") from None
    if when.tzinfo is None:
        raise HookError("bad_time")
    return int(when.timestamp() * 1000)


def check_tiers(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise HookError("bad_tiers")
    tiers = tuple(dict.fromkeys(str(t).strip() for t in items if str(t).strip()))
    if not tiers or any(t not in _TIERS for t in tiers):
        raise HookError("bad_tiers")
    return tiers


def check_cover(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 2048 or any(c in value for c in "\"'<> \\"):
        raise HookError("bad_url")
    if not (value.startswith("https://") or value.startswith("/static/")):
        raise HookError("bad_url")
    return value


def check_code(value: Any) -> str:
    if value in (None, ""):
        return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise HookError("bad_code")
    return value


@dataclass(frozen=True, slots=True)
class Session:
    """A scheduled session of a room."""

    id: str
    room_id: str
    title: str
    starts_ms: int
    duration_min: int
    tiers: tuple[str, ...]
    capacity: int
    cover_url: str

    @property
    def ends_ms(self) -> int:
        return self.starts_ms + self.duration_min * 60_000

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "title": self.title,
            "starts_ms": self.starts_ms,
            "duration_min": self.duration_min,
            "tiers": list(self.tiers),
            "capacity": self.capacity,
            "cover_url": self.cover_url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(
            id=data["id"],
            room_id=data["room_id"],
            title=data["title"],
            starts_ms=int(data["starts_ms"]),
            duration_min=int(data["duration_min"]),
            tiers=tuple(data["tiers"]),
            capacity=int(data["capacity"]),
            cover_url=data["cover_url"],
        )


def parse_session(session_id: Any, body: dict[str, Any]) -> Session:
    """A session from an operator's fields (the room's existence is the store's check)."""
    return Session(
        id=check_id(session_id, "session id"),
        room_id=check_id(body.get("room_id"), "room_id"),
        title=_label(body.get("title"), "title", MAX_TITLE),
        starts_ms=parse_time_ms(body.get("starts_at")),
        duration_min=_number(body.get("duration_min", 60), "duration_min", 1, MAX_DURATION),
        tiers=check_tiers(body.get("tiers", "core,active,potential")),
        capacity=_number(body.get("capacity", 100), "capacity", 1, MAX_CAPACITY),
        cover_url=check_cover(body.get("cover_url")),
    )


@dataclass(frozen=True, slots=True)
class HookLink:
    """A link ``/r/CODE`` to a session, for one channel."""

    code: str
    session_id: str
    channel: str
    registration: bool
    coupon: str = ""  # a coupon id an RSVP through the link claims; "" for none

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "session_id": self.session_id,
            "channel": self.channel,
            "registration": self.registration,
            "coupon": self.coupon or None,
            "path": f"/r/{self.code}",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HookLink:
        return cls(
            data["code"],
            data["session_id"],
            data["channel"],
            bool(data["registration"]),
            data.get("coupon") or "",
        )


def parse_link(session_id: str, body: dict[str, Any]) -> HookLink:
    registration = body.get("registration", False)
    if not isinstance(registration, bool):
        raise HookError("bad_number", field="registration", low=0, high=1)
    return HookLink(
        code=check_code(body.get("code")),
        session_id=session_id,
        channel=_label(body.get("channel"), "channel", MAX_CHANNEL),
        registration=registration,
        coupon="" if body.get("coupon") in (None, "") else check_id(body["coupon"], "coupon"),
    )
