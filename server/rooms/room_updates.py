"""Bursty room updates, coalesced: reaction counts, poll results, product figures.

Many changes in a short window become one broadcast per key, at most once per interval
(``server/rooms/coalesce.py``). Reactions are tallied here (node-local, drained at each
flush); poll results and product figures are read from the value the room state returned
for the latest change, when the flush runs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from server import outbound as out
from server.rooms.coalesce import Coalescer
from server.rooms.polls import Poll
from server.rooms.products import ProductStats
from server.rooms.reactions import ReactionTally

# The coalescer key for reaction counts (poll results and product figures key by id).
REACTIONS_KEY = "reactions"

# Publish a message to the room, to its moderators only if asked.
Publish = Callable[[out.Outbound, bool], None]


class RoomUpdates:
    def __init__(self, interval: float, publish: Publish) -> None:
        self._publish = publish
        self._reactions = ReactionTally()
        self._latest: dict[Hashable, tuple[Callable[[], out.Outbound], bool]] = {}
        self._coalescer = Coalescer(interval, self._flush)

    def reaction(self, emoji: str) -> None:
        self._reactions.add(emoji)
        self._coalescer.mark(REACTIONS_KEY)

    def poll_results(self, poll: Poll) -> None:
        self._mark(("poll", poll.poll_id), lambda: out.poll_results(poll.results()), False)

    def product_stats(self, product_id: str, stats: ProductStats) -> None:
        """The figures of ``product_id``, for moderators only."""
        self._mark(
            ("product", product_id), lambda: out.product_stats(stats.to_json(product_id)), True
        )

    @property
    def pending(self) -> bool:
        return self._coalescer.pending

    def cancel(self) -> None:
        self._coalescer.cancel()
        self._latest.clear()

    def _mark(self, key: Hashable, message: Callable[[], out.Outbound], moderators: bool) -> None:
        self._latest[key] = (message, moderators)
        self._coalescer.mark(key)

    def _flush(self, keys: list[Hashable]) -> None:
        for key in keys:
            if key == REACTIONS_KEY:
                counts = self._reactions.drain()
                if counts:
                    self._publish(out.reactions(counts), False)
                continue
            latest = self._latest.pop(key, None)
            if latest is not None:
                message, moderators = latest
                self._publish(message(), moderators)
