"""What a room session's hosts must find again after a reload: purchases and tier changes.

Pure and synchronous, bounded: the newest ``keep`` of each, oldest first. The host
console rebuilds its shop activity, its tier-change list and its live figures from this
(``Interactions.joined_state``, for hosts and co-hosts only).
"""

from __future__ import annotations

from collections import deque
from typing import Any

KEEP = 50


class SessionJournal:
    def __init__(self, keep: int = KEEP) -> None:
        self._purchases: deque[dict[str, Any]] = deque(maxlen=keep)
        self._tier_changes: deque[dict[str, Any]] = deque(maxlen=keep)
        self.purchase_count = 0
        self.tier_change_count = 0

    def purchase(self, payload: dict[str, Any]) -> None:
        self._purchases.append(dict(payload))
        self.purchase_count += 1

    def tier_change(self, payload: dict[str, Any]) -> None:
        self._tier_changes.append(dict(payload))
        self.tier_change_count += 1

    def restore(
        self, purchases: list[dict[str, Any]], tier_changes: list[dict[str, Any]], counts: list[int]
    ) -> None:
        """Take back a saved journal (``to_json`` and the two counts)."""
        self._purchases.extend(purchases)
        self._tier_changes.extend(tier_changes)
        self.purchase_count, self.tier_change_count = counts

    def to_json(self) -> dict[str, Any]:
        return {
            "purchases": list(self._purchases),
            "tier_changes": list(self._tier_changes),
        }
