"""Reactions: the fixed set of emoji and the tally that turns bursts into few updates.

A room adds each reaction to a ``ReactionTally``; a timer drains it every flush
interval, so 200 members reacting at once become one update with counts, not 200.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

# Wire names; pages draw them as ❤️ 👏 🔥 😂 😮 🎉.
REACTIONS: Final = ("heart", "clap", "fire", "laugh", "wow", "party")


class ReactionTally:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self.total = 0

    def add(self, name: str) -> bool:
        """Count one reaction; True if it is the first since the last drain."""
        if name not in REACTIONS:
            raise ValueError(f"unknown reaction {name!r}")
        first = not self._counts
        self._counts[name] += 1
        self.total += 1
        return first

    def drain(self) -> dict[str, int]:
        """The counts since the last drain (in ``REACTIONS`` order), and start afresh."""
        counts = {name: self._counts[name] for name in REACTIONS if self._counts[name]}
        self._counts.clear()
        return counts

    @property
    def pending(self) -> bool:
        return bool(self._counts)
