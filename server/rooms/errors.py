"""Domain errors of rooms and entry: a stable code and its parameters, never a sentence.

``RoomError(code, **params)`` is the one mechanism (rewards' ``RewardError`` included).
The code is the one clients see; ``params`` hold what a sentence needs, as codes and
numbers (an action is its ``Action`` code, a role its value), so that each edge renders the
sentence in its reader's language: the server's catalog (``server/error_text.py``) for
the socket's ``message``, REST and the CLI, the pages' own (web/i18n/*.json).

A ``case`` parameter picks a more precise sentence for the same code (``invalid_state``
with ``case="not_on_stage"``); ``CODES`` lists every code and the cases it may carry,
and the catalogs are tested against it. The named subclasses are the domain's words
(``RoomFull``, ``TierTooLow``) for raising and catching; they only fill in the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

# Every code a RoomError may carry, with the cases that refine it.
CODES: dict[str, frozenset[str]] = {
    "token_invalid": frozenset(
        {"signature", "missing_claim", "malformed", "no_subject", "bad_role"}
    ),
    "token_expired": frozenset(),
    "wrong_room": frozenset(),  # token_room, room
    "room_not_found": frozenset(),  # room
    "unknown_member": frozenset(),  # member
    "tier_too_low": frozenset({"invite_only"}),  # room_title, allowed, tier, next
    "room_full": frozenset(),  # room_title, capacity, next
    "private_room": frozenset(),  # room_title
    "unavailable": frozenset({"rewards"}),
    "forbidden": frozenset({"on_host", "in_this_room"}),  # action, role
    "media_failed": frozenset(
        {"bad_candidate", "candidate_port", "candidate_address", "no_media", "negotiation"}
    ),  # detail (aiortc's own words, for logs)
    "replaced": frozenset(),
    "room_moved": frozenset(),  # the room moved to another node: reconnect
    "rate_limited": frozenset(),  # limit, burst, rate, retry_after
    "too_long": frozenset(),  # what, limit
    "not_found": frozenset({"participant", "replay"}),  # what, id
    "invalid_state": frozenset(
        {
            "no_invitation",
            "already_on_stage",
            "nothing_to_dismiss",
            "not_on_stage",
            "not_muted",
            "cohost_taken",
            "cannot_cohost",
            "remove_self",
            "no_product_card",
            "poll_open",
            "poll_not_open",
            "question_not_pinned",
            "session_closed",
            "question_not_open",
        }
    ),  # name, poll, question, state, action
    "already_voted": frozenset(),  # what
    "not_voted": frozenset(),  # what
    "own_item": frozenset(),  # action
    "limit_reached": frozenset(),  # what, limit
    "invalid_field": frozenset(
        {"option", "replay_seconds", "replay_report", "recording_toggle"}
    ),  # option, last; limit
    "stage_full": frozenset(),  # cap
    "banned": frozenset(),  # room_title
    "removed": frozenset({"banned", "this_session"}),  # by, banned, room_title
}


class RoomError(Exception):
    """Base of every refusal or failed action in a room: ``code`` and ``params``."""

    codes: ClassVar[dict[str, frozenset[str]]] = CODES

    def __init__(self, code: str, **params: object) -> None:
        cases = self.codes.get(code)
        case = params.get("case")
        if cases is None or (case is not None and case not in cases):  # pragma: no cover
            raise ValueError(f"unknown error code {code!r} (case {case!r})")
        super().__init__(code)
        self.code = code
        self.params: dict[str, object] = {k: v for k, v in params.items() if v is not None}

    def __str__(self) -> str:
        # For logs only: people read the sentence their edge renders from the catalog.
        return f"{self.code} {self.params}" if self.params else self.code


class TokenInvalid(RoomError):
    def __init__(self, case: str, claim: str | None = None) -> None:
        super().__init__("token_invalid", case=case, claim=claim)


class TokenExpired(RoomError):
    def __init__(self) -> None:
        super().__init__("token_expired")


class WrongRoom(RoomError):
    def __init__(self, token_room: str, room: str) -> None:
        super().__init__("wrong_room", token_room=token_room, room=room)


class RoomNotFound(RoomError):
    def __init__(self, room: str) -> None:
        super().__init__("room_not_found", room=room)


class UnknownMember(RoomError):
    def __init__(self, member: str) -> None:
        super().__init__("unknown_member", member=member)


class TierTooLow(RoomError):
    def __init__(
        self, room_title: str, allowed: Sequence[str], tier: str, next_link: str | None = None
    ) -> None:
        self.allowed = tuple(allowed)
        self.tier = tier
        super().__init__(
            "tier_too_low",
            room_title=room_title,
            allowed=list(allowed),
            tier=tier,
            next=next_link or None,
            case=None if allowed else "invite_only",
        )


class RoomFull(RoomError):
    def __init__(self, room_title: str, capacity: int, next_link: str | None = None) -> None:
        super().__init__(
            "room_full", room_title=room_title, capacity=capacity, next=next_link or None
        )


class PrivateRoom(RoomError):
    """A private (consultation) room refuses anyone it did not invite, hosts included."""

    def __init__(self, room_title: str) -> None:
        super().__init__("private_room", room_title=room_title)


class StoreUnavailable(RoomError):
    def __init__(self) -> None:
        super().__init__("unavailable")


class Forbidden(RoomError):
    """``role`` may not attempt ``action`` (an ``Action`` code)."""

    def __init__(self, action: str, role: str, case: str | None = None) -> None:
        super().__init__("forbidden", action=action, role=role, case=case)


class MediaFailed(RoomError):
    def __init__(self, case: str, detail: str | None = None) -> None:
        super().__init__("media_failed", case=case, detail=detail)


class Replaced(RoomError):
    def __init__(self) -> None:
        super().__init__("replaced")


class RoomMoved(RoomError):
    """This node no longer serves the room (it lost or handed over its lease): the page
    reconnects, through the router, to the room's new owner."""

    def __init__(self) -> None:
        super().__init__("room_moved")


# --- interactions: chat, reactions, Q&A, polls, products --------------------------------


class RateLimited(RoomError):
    """A connection sent one kind of message faster than its limit allows."""

    def __init__(self, limit: str, rate: float, burst: int, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(
            "rate_limited",
            limit=limit,
            burst=burst,
            rate=rate,
            retry_after=round(max(retry_after, 0.1), 1),
        )


class TextTooLong(RoomError):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__("too_long", what=what, limit=limit)


class ItemNotFound(RoomError):
    def __init__(self, what: str, item_id: str) -> None:
        super().__init__("not_found", what=what, id=item_id)


class InvalidState(RoomError):
    """The item or person is in a state that does not allow the action (``case`` says
    which); ``state`` names the state found."""

    def __init__(self, case: str, state: str | None = None, **params: object) -> None:
        self.state = state
        super().__init__("invalid_state", case=case, state=state, **params)


class AlreadyVoted(RoomError):
    def __init__(self, what: str) -> None:
        super().__init__("already_voted", what=what)


class NotVoted(RoomError):
    def __init__(self, what: str) -> None:
        super().__init__("not_voted", what=what)


class OwnItem(RoomError):
    def __init__(self, action: str) -> None:
        super().__init__("own_item", action=action)


class LimitReached(RoomError):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__("limit_reached", what=what, limit=limit)


class BadChoice(RoomError):
    def __init__(self, option: int, count: int) -> None:
        super().__init__("invalid_field", case="option", option=option, last=count - 1)


# --- stage: roles, hands, invitations, mutes, removal and bans ---------------------------


class StageFull(RoomError):
    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__("stage_full", cap=cap)


class StageConflict(InvalidState):
    """The stage is not in a state that allows the action (``case`` says which)."""

    def __init__(self, case: str, name: str | None = None) -> None:
        super().__init__(case, name=name)


class NoSuchParticipant(RoomError):
    def __init__(self, participant: str) -> None:
        super().__init__("not_found", case="participant", what="participant", id=participant)


class Banned(RoomError):
    def __init__(self, room_title: str) -> None:
        super().__init__("banned", room_title=room_title)


class RemovedThisSession(RoomError):
    """Refused at the gate: removed from this room session (not banned)."""

    def __init__(self, room_title: str) -> None:
        super().__init__("removed", case="this_session", room_title=room_title)


class Removed(RoomError):
    def __init__(self, by: str, banned: bool) -> None:
        self.banned = banned
        super().__init__("removed", by=by, banned=banned, case="banned" if banned else None)
