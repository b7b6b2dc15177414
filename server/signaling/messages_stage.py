"""Client messages of the stage feature: frozen dataclasses and their parsers.

Raise and lower a hand, invitations and their answers, leaving and moving off the
stage, mutes, co-host appointment, removal and bans (see docs/protocol.md, "Stage").
``PARSERS`` maps a message type to a function ``(obj, ref) -> message``; ``messages.parse``
merges it into the one parsing table. Who may send what is the feature's business
(``server/signaling/stage.py``); parsers check shape only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.signaling.fields import boolean, identifier
from server.signaling.message_shapes import Parser, RefOnly, ToParticipant, bare, to_participant


@dataclass(frozen=True, slots=True)
class HandRaise(RefOnly):
    type: Literal["hand_raise"] = "hand_raise"


@dataclass(frozen=True, slots=True)
class HandLower(RefOnly):
    type: Literal["hand_lower"] = "hand_lower"


@dataclass(frozen=True, slots=True)
class StageInvite(ToParticipant):
    type: Literal["stage_invite"] = "stage_invite"


@dataclass(frozen=True, slots=True)
class HandDismiss(ToParticipant):
    type: Literal["hand_dismiss"] = "hand_dismiss"


@dataclass(frozen=True, slots=True)
class StageReply:
    accept: bool
    ref: str | None = None
    type: Literal["stage_reply"] = "stage_reply"


@dataclass(frozen=True, slots=True)
class StageLeave(RefOnly):
    type: Literal["stage_leave"] = "stage_leave"


@dataclass(frozen=True, slots=True)
class StageMoveOff(ToParticipant):
    type: Literal["stage_move_off"] = "stage_move_off"


@dataclass(frozen=True, slots=True)
class Mute(ToParticipant):
    type: Literal["mute"] = "mute"


@dataclass(frozen=True, slots=True)
class Unmute(ToParticipant):
    type: Literal["unmute"] = "unmute"


@dataclass(frozen=True, slots=True)
class AskUnmute(ToParticipant):
    type: Literal["ask_unmute"] = "ask_unmute"


@dataclass(frozen=True, slots=True)
class MakeCohost(ToParticipant):
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


PARSERS: dict[str, Parser[StageMessage]] = {
    "hand_raise": bare(HandRaise),
    "hand_lower": bare(HandLower),
    "stage_invite": to_participant(StageInvite),
    "hand_dismiss": to_participant(HandDismiss),
    "stage_reply": lambda o, r: StageReply(accept=boolean(o, "accept", r), ref=r),
    "stage_leave": bare(StageLeave),
    "stage_move_off": to_participant(StageMoveOff),
    "mute": to_participant(Mute),
    "unmute": to_participant(Unmute),
    "ask_unmute": to_participant(AskUnmute),
    "make_cohost": to_participant(MakeCohost),
    "remove": _remove,
}
