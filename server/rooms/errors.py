"""Domain errors of rooms and entry. They carry no wire codes: signaling maps them.

Each error's ``str()`` is a sentence a member can read.
"""

from __future__ import annotations

from collections.abc import Sequence


class RoomError(Exception):
    """Base of every refusal or failed action in a room."""


class TokenInvalid(RoomError):
    def __init__(self, reason: str = "the link's token is not valid") -> None:
        super().__init__(f"This link is not valid: {reason}. Ask the host for a new link.")


class TokenExpired(RoomError):
    def __init__(self) -> None:
        super().__init__("This link has expired. Ask the host for a new link.")


class WrongRoom(RoomError):
    def __init__(self, token_room: str, room: str) -> None:
        super().__init__(f"This link was made for room '{token_room}', not for room '{room}'.")


class RoomNotFound(RoomError):
    def __init__(self, room: str) -> None:
        super().__init__(f"There is no room called '{room}'.")


class UnknownMember(RoomError):
    def __init__(self, member: str) -> None:
        super().__init__(
            f"We could not find a membership for '{member}'. Membership is needed to enter."
        )


class TierTooLow(RoomError):
    def __init__(self, room_title: str, allowed: Sequence[str], tier: str) -> None:
        self.allowed = tuple(allowed)
        self.tier = tier
        names = ", ".join(allowed) if allowed else "invited guests only"
        super().__init__(
            f"'{room_title}' is open to {names} members; your membership tier is {tier}."
        )


class RoomFull(RoomError):
    def __init__(self, room_title: str, capacity: int) -> None:
        super().__init__(f"'{room_title}' is full ({capacity} of {capacity} places taken).")


class StoreUnavailable(RoomError):
    def __init__(self) -> None:
        super().__init__(
            "We cannot check your membership right now, so the room stays closed. "
            "Please try again in a moment."
        )


class Forbidden(RoomError):
    def __init__(self, action: str, role: str) -> None:
        super().__init__(f"A {role} cannot {action}.")


class MediaFailed(RoomError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"The media connection could not be set up: {detail}.")


class Replaced(RoomError):
    def __init__(self) -> None:
        super().__init__("You joined this room from another window, so this one was closed.")
