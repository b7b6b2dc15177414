"""Domain errors of rooms and entry. They carry no wire codes: signaling maps them.

Each error's ``str()`` is an English sentence (logs, the CLI, old pages); ``params`` holds
what a page needs to render the sentence itself, in its reader's language, from the
error's code (web/i18n/*.json).
"""

from __future__ import annotations

from collections.abc import Sequence


class RoomError(Exception):
    """Base of every refusal or failed action in a room."""

    params: dict[str, object] = {}  # noqa: RUF012 - replaced per instance, never mutated


class TokenInvalid(RoomError):
    def __init__(self, reason: str = "the link's token is not valid") -> None:
        super().__init__(f"This link is not valid: {reason}. Ask the host for a new link.")


class TokenExpired(RoomError):
    def __init__(self) -> None:
        super().__init__("This link has expired. Ask the host for a new link.")


class WrongRoom(RoomError):
    def __init__(self, token_room: str, room: str) -> None:
        self.params = {"token_room": token_room, "room": room}
        super().__init__(f"This link was made for room '{token_room}', not for room '{room}'.")


class RoomNotFound(RoomError):
    def __init__(self, room: str) -> None:
        self.params = {"room": room}
        super().__init__(f"There is no room called '{room}'.")


class UnknownMember(RoomError):
    def __init__(self, member: str) -> None:
        self.params = {"member": member}
        super().__init__(
            f"We could not find a membership for '{member}'. Membership is needed to enter."
        )


class TierTooLow(RoomError):
    def __init__(
        self, room_title: str, allowed: Sequence[str], tier: str, next_link: str | None = None
    ) -> None:
        self.allowed = tuple(allowed)
        self.tier = tier
        self.params = {"room_title": room_title, "allowed": list(allowed), "tier": tier}
        if next_link:
            self.params["next"] = next_link
        names = ", ".join(allowed) if allowed else "invited guests only"
        super().__init__(
            f"'{room_title}' is open to {names} members; your membership tier is {tier}."
        )


class RoomFull(RoomError):
    def __init__(self, room_title: str, capacity: int, next_link: str | None = None) -> None:
        self.params = {"room_title": room_title, "capacity": capacity}
        if next_link:
            self.params["next"] = next_link
        super().__init__(f"'{room_title}' is full ({capacity} of {capacity} places taken).")


class StoreUnavailable(RoomError):
    def __init__(self) -> None:
        super().__init__(
            "We cannot check your membership right now, so the room stays closed. "
            "Please try again in a moment."
        )


class Forbidden(RoomError):
    def __init__(self, action: str, role: str) -> None:
        self.params = {"role": role}
        super().__init__(f"A {role} cannot {action}.")


class MediaFailed(RoomError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"The media connection could not be set up: {detail}.")


class Replaced(RoomError):
    def __init__(self) -> None:
        super().__init__("You joined this room from another window, so this one was closed.")


# --- interactions: chat, reactions, Q&A, polls, products --------------------------------


class RateLimited(RoomError):
    """A connection sent one kind of message faster than its limit allows."""

    def __init__(self, limit: str, rate: float, burst: int, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.params = {"limit": limit, "retry_after": round(max(retry_after, 0.1), 1)}
        per = f"{rate:g} per second" if rate >= 1 else f"1 every {1 / rate:g} seconds"
        super().__init__(
            f"Slow down: the {limit} limit allows {burst} at once, then {per}. "
            f"Try again in {max(retry_after, 0.1):.1f} s."
        )


class TextTooLong(RoomError):
    def __init__(self, what: str, limit: int) -> None:
        self.params = {"what": what, "limit": limit}
        super().__init__(f"That {what} is too long: at most {limit} characters.")


class ItemNotFound(RoomError):
    def __init__(self, what: str, item_id: str) -> None:
        super().__init__(f"There is no {what} '{item_id}' in this room (any more).")


class InvalidState(RoomError):
    """The item exists but is in a state that does not allow the action."""

    def __init__(self, what: str, item_id: str, state: str, action: str) -> None:
        self.state = state
        super().__init__(f"The {what} '{item_id}' is {state}: it cannot be {action}.")


class AlreadyVoted(RoomError):
    def __init__(self, what: str) -> None:
        super().__init__(f"You have already upvoted this {what}.")


class NotVoted(RoomError):
    def __init__(self, what: str) -> None:
        super().__init__(f"You have not upvoted this {what}, so there is nothing to take back.")


class OwnItem(RoomError):
    def __init__(self, action: str) -> None:
        super().__init__(f"You cannot {action} your own question.")


class LimitReached(RoomError):
    def __init__(self, what: str, limit: int) -> None:
        self.params = {"what": what, "limit": limit}
        super().__init__(f"This room has reached its limit of {limit} {what}.")


class BadChoice(RoomError):
    def __init__(self, option: int, count: int) -> None:
        super().__init__(f"Option {option} does not exist: this poll has options 0 to {count - 1}.")


# --- stage: roles, hands, invitations, mutes, removal and bans ---------------------------


class StageFull(RoomError):
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.params = {"cap": cap}
        super().__init__(f"The stage is full ({cap} of {cap} speakers). Someone must leave first.")


class StageConflict(RoomError):
    """The stage is not in a state that allows the action (the sentence says which)."""


class NoSuchParticipant(RoomError):
    def __init__(self, participant: str) -> None:
        super().__init__(f"There is nobody with id '{participant}' in this room (any more).")


class Banned(RoomError):
    def __init__(self, room_title: str) -> None:
        self.params = {"room_title": room_title}
        super().__init__(
            f"You have been banned from '{room_title}', so you cannot rejoin it, even with a "
            "new link, until the ban is lifted."
        )


class RemovedThisSession(RoomError):
    """Refused at the gate: removed from this room session (not banned)."""

    def __init__(self, room_title: str) -> None:
        self.params = {"room_title": room_title}
        super().__init__(
            f"You were removed from '{room_title}' and cannot rejoin it until this session ends."
        )


class Removed(RoomError):
    def __init__(self, by: str, banned: bool) -> None:
        self.banned = banned
        self.params = {"by": by, "banned": banned}
        if banned:
            super().__init__(
                f"{by} removed you from the room and banned you: you cannot rejoin it."
            )
        else:
            super().__init__(f"{by} removed you from the room.")
