"""The one table from domain errors to wire codes, and which of them close the socket."""

from __future__ import annotations

from server.rooms import errors as e

# (code, WebSocket close code or None to keep the connection)
ERROR_CODES: dict[type[e.RoomError], tuple[str, int | None]] = {
    e.TokenInvalid: ("token_invalid", 4403),
    e.TokenExpired: ("token_expired", 4403),
    e.WrongRoom: ("wrong_room", 4403),
    e.RoomNotFound: ("room_not_found", 4403),
    e.UnknownMember: ("unknown_member", 4403),
    e.TierTooLow: ("tier_too_low", 4403),
    e.RoomFull: ("room_full", 4403),
    e.StoreUnavailable: ("unavailable", 4403),
    e.Forbidden: ("forbidden", None),
    e.MediaFailed: ("media_failed", None),
    e.Replaced: ("replaced", 4409),
}

CLOSE_NORMAL = 1000
CLOSE_SERVICE_RESTART = 1012  # RFC 6455 registry: the server restarts, come back later
CLOSE_TOO_LARGE = 1009
CLOSE_JOIN_TIMEOUT = 4408


def code_for(error: e.RoomError) -> tuple[str, int | None]:
    for cls in type(error).__mro__:
        if cls in ERROR_CODES:
            return ERROR_CODES[cls]
    return ("error", None)


# Interactions (chat, reactions, Q&A, polls, products): appended to the table above.
ERROR_CODES.update(
    {
        e.RateLimited: ("rate_limited", None),
        e.TextTooLong: ("too_long", None),
        e.ItemNotFound: ("not_found", None),
        e.InvalidState: ("invalid_state", None),
        e.AlreadyVoted: ("already_voted", None),
        e.NotVoted: ("not_voted", None),
        e.OwnItem: ("own_item", None),
        e.LimitReached: ("limit_reached", None),
        e.BadChoice: ("invalid_field", None),
    }
)

# Stage (roles, hands, invitations, mutes, removal, bans): appended to the table above.
CLOSE_REMOVED = 4410
ERROR_CODES.update(
    {
        e.StageFull: ("stage_full", None),
        e.StageConflict: ("invalid_state", None),
        e.NoSuchParticipant: ("not_found", None),
        e.Banned: ("banned", 4403),
        e.Removed: ("removed", CLOSE_REMOVED),
        e.RemovedThisSession: ("removed", 4403),
    }
)
