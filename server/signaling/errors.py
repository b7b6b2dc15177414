"""The wire side of domain errors: which codes close the socket, and the error message.

A ``RoomError`` already carries its stable code and parameters (server/rooms/errors.py);
this module adds what only the socket knows: whether the code ends the connection (and
with which close code), and the English sentence of the server's catalog
(``server/error_text.py``) as ``message`` for old clients, beside ``code`` and ``params``.
"""

from __future__ import annotations

from typing import Any

from server.error_text import sentence
from server.rooms.errors import RoomError
from server.signaling import messages as m

CLOSE_NORMAL = 1000
CLOSE_SERVICE_RESTART = 1012  # RFC 6455 registry: the server restarts, come back later
CLOSE_TOO_LARGE = 1009
CLOSE_JOIN_TIMEOUT = 4408
CLOSE_REFUSED = 4403
CLOSE_REPLACED = 4409
CLOSE_REMOVED = 4410

# Codes that end the connection, with their WebSocket close code; every other code
# keeps it. A ``(code, case)`` entry wins over the code's own.
CLOSES: dict[str | tuple[str, str], int] = {
    "token_invalid": CLOSE_REFUSED,
    "token_expired": CLOSE_REFUSED,
    "wrong_room": CLOSE_REFUSED,
    "room_not_found": CLOSE_REFUSED,
    "unknown_member": CLOSE_REFUSED,
    "tier_too_low": CLOSE_REFUSED,
    "room_full": CLOSE_REFUSED,
    "unavailable": CLOSE_REFUSED,
    ("unavailable", "rewards"): 0,  # rewards being down ends nobody's visit
    "replaced": CLOSE_REPLACED,
    "room_moved": CLOSE_SERVICE_RESTART,
    "banned": CLOSE_REFUSED,
    "removed": CLOSE_REMOVED,
    ("removed", "this_session"): CLOSE_REFUSED,
}


def close_for(error: RoomError) -> int | None:
    """The close code ``error`` ends the socket with, or None to keep it open."""
    case = error.params.get("case")
    close = CLOSES.get((error.code, case)) if isinstance(case, str) else None
    if close is None:
        close = CLOSES.get(error.code)
    return close or None


def error_message(error: RoomError, ref: str | None = None, **fields: Any) -> dict[str, Any]:
    """The ``error`` message for ``error``: code, params and the English sentence."""
    return m.error(error.code, sentence(error), ref, error.params, **fields)
