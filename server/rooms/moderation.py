"""Who may moderate a room's interactions (delete chat, run Q&A and polls, pin products).

Hosts and the co-hosts they appoint (the stage work grants ``Role.COHOST`` in the room).
"""

from __future__ import annotations

from server.rooms.model import Participant, Role

MODERATOR_ROLES: frozenset[Role] = frozenset({Role.HOST, Role.COHOST})


def is_moderator(participant: Participant) -> bool:
    return participant.role in MODERATOR_ROLES
