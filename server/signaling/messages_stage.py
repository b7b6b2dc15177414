"""Client messages of the stage feature: frozen dataclasses and their parsers.

Raise and lower a hand, invitations and their answers, leaving and moving off the
stage, mutes, co-host appointment, removal and bans (see docs/protocol.md, "Stage").
``PARSERS`` maps a message type to a function ``(obj, ref) -> message``; ``messages.parse``
merges it into the one parsing table. Who may send what is the feature's business
(``server/signaling/stage.py``); parsers check shape only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from server.signaling.fields import boolean, identifier


@dataclass(frozen=True, slots=True)
class HandRaise:
    ref: str | None = None
    type: Literal["hand_raise"] = "hand_raise"


@dataclass(frozen=True, slots=True)
class HandLower:
    ref: str | None = None
    type: Literal["hand_lower"] = "hand_lower"


@dataclass(frozen=True, slots=True)
class StageInvite:
    participant: str
    ref: str | None = None
    type: Literal["stage_invite"] = "stage_invite"


@dataclass(frozen=True, slots=True)
class HandDismiss:
    participant: str
    ref: str | None = None
    type: Literal["hand_dismiss"] = "hand_dismiss"


@dataclass(frozen=True, slots=True)
class StageReply:
    accept: bool
    ref: str | None = None
    type: Literal["stage_reply"] = "stage_reply"


@dataclass(frozen=True, slots=True)
class StageLeave:
    ref: str | None = None
    type: Literal["stage_leave"] = "stage_leave"


@dataclass(frozen=True, slots=True)
class StageMoveOff:
    participant: str
    ref: str | None = None
    type: Literal["stage_move_off"] = "stage_move_off"


@dataclass(frozen=True, slots=True)
class Mute:
    participant: str
    ref: str | None = None
    type: Literal["mute"] = "mute"


@dataclass(frozen=True, slots=True)
class Unmute:
    participant: str
    ref: str | None = None
    type: Literal["unmute"] = "unmute"


@dataclass(frozen=True, slots=True)
class AskUnmute:
    participant: str
    ref: str | None = None
    type: Literal["ask_unmute"] = "ask_unmute"


@dataclass(frozen=True, slots=True)
class MakeCohost:
    participant: str
    ref: str | None = None
    type: Literal["make_cohost"] = "make_cohost"


@dataclass(frozen=True, slots=True)
class Remove:
    participant: str
    ban: bool = False
    ref: str | None = None
    type: Literal["remove"] = "remove"


StageMessage = (
    HandRaise
    | HandLower
    | StageInvite
    | HandDismiss
    | StageReply
    | StageLeave
    | StageMoveOff
    | Mute
    | Unmute
    | AskUnmute
    | MakeCohost
    | Remove
)
MESSAGE_TYPES: tuple[type, ...] = (
    HandRaise,
    HandLower,
    StageInvite,
    HandDismiss,
    StageReply,
    StageLeave,
    StageMoveOff,
    Mute,
    Unmute,
    AskUnmute,
    MakeCohost,
    Remove,
)


def _who(obj: dict[str, Any], ref: str | None) -> str:
    return identifier(obj, "participant", ref)


def _remove(obj: dict[str, Any], ref: str | None) -> Remove:
    ban = boolean(obj, "ban", ref) if "ban" in obj else False
    return Remove(participant=_who(obj, ref), ban=ban, ref=ref)


PARSERS: dict[str, Callable[[dict[str, Any], str | None], Any]] = {
    "hand_raise": lambda o, r: HandRaise(ref=r),
    "hand_lower": lambda o, r: HandLower(ref=r),
    "stage_invite": lambda o, r: StageInvite(participant=_who(o, r), ref=r),
    "hand_dismiss": lambda o, r: HandDismiss(participant=_who(o, r), ref=r),
    "stage_reply": lambda o, r: StageReply(accept=boolean(o, "accept", r), ref=r),
    "stage_leave": lambda o, r: StageLeave(ref=r),
    "stage_move_off": lambda o, r: StageMoveOff(participant=_who(o, r), ref=r),
    "mute": lambda o, r: Mute(participant=_who(o, r), ref=r),
    "unmute": lambda o, r: Unmute(participant=_who(o, r), ref=r),
    "ask_unmute": lambda o, r: AskUnmute(participant=_who(o, r), ref=r),
    "make_cohost": lambda o, r: MakeCohost(participant=_who(o, r), ref=r),
    "remove": _remove,
}
