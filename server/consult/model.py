"""A consultation's record and its state machine, pure (no I/O).

``pending`` -> ``accepted`` (an advisor took it: its private room exists) or ``declined``;
``accepted`` -> ``ended`` (one of the two left after both were present). ``ALLOWED`` is
the whole table. Every refusal is a ``ConsultError(code, **params)``; the sentence is
rendered at the edge (``server/consult/errors.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from server.ids import MemberId, RoomId
from server.rooms.model import CONSULT_PREFIX

ROOM_PREFIX: Final = CONSULT_PREFIX


class Status(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ENDED = "ended"


# Which status each action needs, and what it leads to.
ALLOWED: Final[dict[str, tuple[Status, Status]]] = {
    "accept": (Status.PENDING, Status.ACCEPTED),
    "decline": (Status.PENDING, Status.DECLINED),
    "end": (Status.ACCEPTED, Status.ENDED),
}
# A member has at most one request that is not over.
OPEN: Final = frozenset({Status.PENDING, Status.ACCEPTED})


# The HTTP status of each refusal (any other code is 400).
STATUS: Final = {
    "not_found": 404,
    "tier_too_low": 403,
    "not_host": 403,
    "not_yours": 403,
    "already_requested": 409,
    "invalid_state": 409,
}


class ConsultError(ValueError):
    """Refused input or state: ``code`` for programs, ``params`` for the sentence."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params
        self.status = STATUS.get(code, 400)


def new_consult_id() -> str:
    return "c" + secrets.token_hex(5)


def room_of(consult_id: str) -> RoomId:
    """The private room of a consultation."""
    return RoomId(ROOM_PREFIX + consult_id)


def consult_of(room_id: str) -> str | None:
    """The consultation a room belongs to, or None for any other room."""
    return room_id[len(ROOM_PREFIX) :] if room_id.startswith(ROOM_PREFIX) else None


@dataclass(frozen=True, slots=True)
class Consultation:
    """One request and what became of it (times in epoch ms, 0 when not yet)."""

    id: str
    member_id: MemberId
    member_name: str
    origin_room: str
    origin_session: str
    note: str
    requested_ms: int
    status: Status = Status.PENDING
    advisor_id: str = ""
    advisor_name: str = ""
    decided_ms: int = 0
    started_ms: int = 0
    ended_ms: int = 0
    seconds: float = 0.0
    orders: tuple[str, ...] = field(default_factory=tuple)

    @property
    def room_id(self) -> RoomId:
        return room_of(self.id)

    def moved(self, action: str, now: int) -> Consultation:
        """The record after ``action`` (``ALLOWED``), or ``ConsultError('invalid_state')``."""
        need, to = ALLOWED[action]
        if self.status is not need:
            raise ConsultError("invalid_state", action=action, state=self.status.value)
        changed = replace(self, status=to)
        return replace(changed, ended_ms=now) if action == "end" else changed

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["orders"] = list(self.orders)
        out["room_id"] = self.room_id if self.status is not Status.PENDING else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Consultation:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["status"] = Status(known.get("status", "pending"))
        known["orders"] = tuple(known.get("orders") or ())
        known["member_id"] = MemberId(str(known["member_id"]))
        return cls(**known)
