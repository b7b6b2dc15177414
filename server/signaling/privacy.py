"""What members may not see of each other: tiers and scores are for hosts and co-hosts.

A participant's record (``Participant.to_json``) carries the tier it entered with, and
the stage's hand queue carries scores; both are what moderation needs. Everyone else
gets every message with those fields taken out of each person's record, here, at the
edge, so that no feature has to remember it. A member still sees their own tier in
``you`` (the refusal page and the gate speak of it).
"""

from __future__ import annotations

from typing import Any

# Keys only moderators read, in a dict that describes a person (it has a member id).
PRIVATE = frozenset({"tier", "score"})
# Top-level keys of a message that are about the reader, left as they are.
OWN = frozenset({"you"})


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        person = "member_id" in value
        return {k: _public(v) for k, v in value.items() if not (person and k in PRIVATE)}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def for_members(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a member may see it: no one else's tier or score."""
    return {k: (v if k in OWN else _public(v)) for k, v in message.items()}
