"""Who moderates a room: the one definition of the moderator roles, and the room's
moderators now.

Hosts and the co-hosts they appoint (the stage work grants ``Role.COHOST`` in the room)
run the stage, Q&A, polls, products and rewards, and see tiers. The roles are the
engagement layer's staff roles (``STAFF_ROLES``, the event data's strings), as ``Role``s.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.engagement.events import STAFF_ROLES
from server.ids import ParticipantId
from server.rooms.model import Participant, Role

MODERATORS: frozenset[Role] = frozenset(Role(role) for role in STAFF_ROLES)


def is_moderator(participant: Participant) -> bool:
    return participant.role in MODERATORS


def moderators(participants: Iterable[Participant]) -> list[ParticipantId]:
    """The ids of the moderators among ``participants`` (a room's, say)."""
    return [p.participant_id for p in participants if p.role in MODERATORS]
