"""Resuming: the resume token a page gets in ``joined``, and the rule that gives a page
coming back its in-room role (speaker, co-host, live host).

A resume token is an HMAC (the auth secret) of the room, the member and the room session:
opaque to the page, checked by any node that holds the secret, worthless in another room,
for another member or after the session ended. It is never logged.

When someone with something to give back (a stage role, or a host publishing the main
feed) leaves, the room keeps an ``Away`` record in its session state; a page that comes
back with a valid token within the grace period gets that back, unless the host changed
it meanwhile (the session's stage role is cleared when the host moves them off) or the
stage has no place for it now. Everything here is pure; ``RoomService.join`` applies it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from server.ids import MemberId, RoomId
from server.rooms.model import Role

TOKEN_PREFIX = "r1."
MAX_RESUME_TOKEN = 64


class ResumeCode(StrEnum):
    """What became of a resume token (``joined.resumed.code``, docs/protocol.md)."""

    RESUMED = "resumed"  # the role (and the live feed) is given back
    NOTHING = "nothing_kept"  # a good token, but nothing to give back: plain member
    INVALID = "resume_invalid"  # forged, another room's, member's or session's
    EXPIRED = "resume_expired"  # back after the grace period
    NO_PLACE = "resume_no_place"  # the stage is full, or another co-host was named


@dataclass(frozen=True, slots=True)
class Away:
    """Someone left with something to give back: when, whether they were live, and
    whether their microphone was muted (a reload must not lift a host's mute)."""

    at_ms: int
    live: bool
    muted: bool = False


@dataclass(frozen=True, slots=True)
class Resumed:
    """The outcome for one page coming back: the role to give, whether to republish."""

    code: ResumeCode
    role: Role
    live: bool = False
    muted: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.code in (ResumeCode.RESUMED, ResumeCode.NOTHING),
            "code": self.code.value,
            "role": self.role.value,
            "live": self.live,
            "muted": self.muted,
        }


def resume_token(secret: str, room_id: RoomId, member_id: MemberId, session_id: str) -> str:
    """The token that lets ``member_id`` resume in this session of ``room_id``."""
    message = "\x00".join(("salon-resume", room_id, member_id, session_id)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(
    secret: str, token: str, room_id: RoomId, member_id: MemberId, session_id: str
) -> bool:
    """Whether ``token`` is this member's token for this session (constant time)."""
    expected = resume_token(secret, room_id, member_id, session_id)
    return hmac.compare_digest(token.encode(), expected.encode())


def decide(
    token_role: Role,
    away: Away | None,
    stage_role: Role | None,
    now_ms: int,
    grace_ms: int,
) -> Resumed:
    """What a page with a valid token gets back, before the stage's places are checked.

    ``stage_role`` is the session's stage role for the member (None: the host cleared it,
    or they never had one); ``away`` is the record kept when they left (None: nothing
    was kept)."""
    if away is None:
        return Resumed(ResumeCode.NOTHING, token_role)
    if now_ms - away.at_ms > grace_ms:
        return Resumed(ResumeCode.EXPIRED, token_role)
    if token_role is Role.HOST:
        return Resumed(ResumeCode.RESUMED, Role.HOST, live=away.live)
    if stage_role in (Role.SPEAKER, Role.COHOST):
        return Resumed(ResumeCode.RESUMED, stage_role, muted=away.muted)
    return Resumed(ResumeCode.NOTHING, token_role)
