"""Typed identifiers shared by every layer (rooms, signaling, engagement)."""

from __future__ import annotations

import re
from typing import NewType

RoomId = NewType("RoomId", str)
MemberId = NewType("MemberId", str)
ParticipantId = NewType("ParticipantId", str)

# Ids travel in Redis keys, URLs and tokens: keep them to a safe, bounded alphabet.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def is_valid_id(value: object) -> bool:
    """Return True when ``value`` is a string usable as a room or member id."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None
