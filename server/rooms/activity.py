"""The rate limits of a room's interactions: the configured ``Limits`` and one ``Limiter``
per member of the room session (not per connection: a reconnect must not refill the
buckets). A ``Room`` owns its ``Limiters``; the session's shared state is its
``SessionState`` (``server/rooms/room_state.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.ids import MemberId
from server.rooms.ratelimit import Limit, Limiter
from server.settings import InteractionSettings

LIMIT_NAMES = ("chat", "reaction", "question", "vote", "click", "moderation")
PRUNE_MIN = 64
# A limiter unused this long has refilled every bucket (the slowest default refills in
# 15 s): dropping it changes nothing, so the table is pruned of those only.
PRUNE_IDLE_S = 600.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The configured limits, by name (see ``InteractionSettings``)."""

    by_name: dict[str, Limit]

    @classmethod
    def from_settings(cls, settings: InteractionSettings) -> Limits:
        return cls(
            {
                name: Limit(
                    name, getattr(settings, f"{name}_rate"), getattr(settings, f"{name}_burst")
                )
                for name in LIMIT_NAMES
            }
        )

    def __getitem__(self, name: str) -> Limit:
        return self.by_name[name]


class Limiters:
    """The rate limiters of one room session's members (node-local, like the sockets)."""

    def __init__(self) -> None:
        self._limiters: dict[MemberId, Limiter] = {}
        self._prune_at = PRUNE_MIN

    def limiter(self, member_id: MemberId, now: float) -> Limiter:
        """The limiter of one member in this room session, whichever connection they
        use. Limiters idle for ``PRUNE_IDLE_S`` (full again) are dropped now and then
        (when the table has doubled), so the table stays small."""
        limiter = self._limiters.get(member_id)
        if limiter is None:
            if len(self._limiters) >= self._prune_at:
                self._limiters = {
                    m: lim for m, lim in self._limiters.items() if now - lim.last < PRUNE_IDLE_S
                }
                self._prune_at = max(PRUNE_MIN, 2 * len(self._limiters))
            limiter = self._limiters[member_id] = Limiter()
        return limiter

    @property
    def limiter_count(self) -> int:
        return len(self._limiters)
