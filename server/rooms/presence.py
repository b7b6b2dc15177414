"""Who is in a room as the people list shows it, and the presence changes not told yet.

``Roster`` orders a room's participants the way the people list shows them: the featured
(hosts, co-hosts, speakers: a handful, always on the first page), then members newest
first, in pages addressed by a cursor (the join number of the last member shown). A page
costs what it returns plus a binary search, never the size of the room; only ``search``
(for moderators) reads everyone.

``PresenceBatch`` collects joins and leaves between two presence deltas; someone who
comes and goes within one interval is never told about. ``Pacing`` spaces a room's deltas
so that they reach at most ``budget`` sockets a second: a delta goes to everyone, so a
room twice as big gets them half as often once it is past ``budget × interval`` people.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from server.ids import ParticipantId
from server.rooms.model import Participant, Role

# The people list's order for those shown before every member.
FEATURED_RANK = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}


@dataclass(frozen=True, slots=True)
class PresenceRules:
    """How often a room tells presence, and how many people a page holds."""

    interval: float = 0.25
    budget: int = 2000
    page: int = 50


@dataclass(frozen=True, slots=True)
class Page:
    """Some of the room's people, in list order; ``next`` is the cursor for more (or None)."""

    people: list[Participant]
    next: int | None


class Roster:
    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._number_of: dict[ParticipantId, int] = {}
        self._at: dict[int, Participant] = {}
        # Join numbers of members (not featured), ascending: the newest is last.
        self._members: list[int] = []
        self._featured: dict[ParticipantId, Participant] = {}

    def __len__(self) -> int:
        return len(self._number_of)

    def add(self, participant: Participant) -> None:
        number = next(self._numbers)
        self._number_of[participant.participant_id] = number
        self._at[number] = participant
        if participant.role in FEATURED_RANK:
            self._featured[participant.participant_id] = participant
        else:
            self._members.append(number)  # numbers only grow: the list stays sorted

    def remove(self, participant_id: ParticipantId) -> None:
        number = self._number_of.pop(participant_id, None)
        if number is None:
            return
        del self._at[number]
        if self._featured.pop(participant_id, None) is None:
            self._drop_member(number)

    def update(self, participant: Participant) -> None:
        """The same participant with another role (stage): move it between the sections."""
        pid = participant.participant_id
        number = self._number_of.get(pid)
        if number is None:
            return
        self._at[number] = participant
        was_featured = pid in self._featured
        if participant.role in FEATURED_RANK:
            self._featured[pid] = participant
            if not was_featured:
                self._drop_member(number)
        elif was_featured:
            del self._featured[pid]
            bisect.insort(self._members, number)

    def listed(self, participant: Participant) -> dict[str, object]:
        """A participant as people lists show it: with ``n``, its join number (the order
        of members, and the cursor for the page after it)."""
        return {**participant.to_json(), "n": self._number_of.get(participant.participant_id)}

    def featured(self) -> list[Participant]:
        return sorted(
            self._featured.values(),
            key=lambda p: (FEATURED_RANK[p.role], self._number_of[p.participant_id]),
        )

    def members(self, before: int | None, limit: int) -> Page:
        """Up to ``limit`` members who joined before join number ``before``, newest first."""
        end = len(self._members) if before is None else bisect.bisect_left(self._members, before)
        start = max(0, end - limit)
        numbers = self._members[start:end]
        numbers.reverse()
        return Page([self._at[n] for n in numbers], numbers[-1] if start > 0 else None)

    def first_page(self, limit: int) -> Page:
        """The featured, then the ``limit`` newest members."""
        members = self.members(None, limit)
        return Page(self.featured() + members.people, members.next)

    def search(self, query: str, limit: int) -> list[Participant]:
        """Up to ``limit`` people whose name or member id contains ``query`` (any case)."""
        folded = query.casefold()
        found: list[Participant] = []
        for person in self._everyone():
            if folded in person.name.casefold() or folded in person.member_id.casefold():
                found.append(person)
                if len(found) >= limit:
                    break
        return found

    def _everyone(self) -> Iterator[Participant]:
        yield from self.featured()
        for number in reversed(self._members):
            yield self._at[number]

    def _drop_member(self, number: int) -> None:
        index = bisect.bisect_left(self._members, number)
        if index < len(self._members) and self._members[index] == number:
            del self._members[index]


class PresenceBatch:
    """Joins and leaves since the last delta, in the order they happened."""

    def __init__(self) -> None:
        self._joined: dict[ParticipantId, None] = {}
        self._left: dict[ParticipantId, None] = {}

    @property
    def pending(self) -> bool:
        return bool(self._joined or self._left)

    def joined(self, participant_id: ParticipantId) -> None:
        self._joined[participant_id] = None

    def left(self, participant_id: ParticipantId) -> None:
        # Came and went within one delta: nobody hears of the join, but the leave is told,
        # since someone who joined meanwhile got them in the first page of people.
        self._joined.pop(participant_id, None)
        self._left[participant_id] = None

    def take(self) -> tuple[list[ParticipantId], list[ParticipantId]]:
        joined, left = list(self._joined), list(self._left)
        self._joined.clear()
        self._left.clear()
        return joined, left


class Pacing:
    """When the next delta may go: ``interval`` after the first change, and no sooner than
    the last delta's recipients allow within ``budget`` sockets a second."""

    def __init__(self, interval: float, budget: int) -> None:
        self._interval = interval
        self._budget = budget
        self._not_before = 0.0

    def delay(self, now: float) -> float:
        return max(self._interval, self._not_before - now)

    def sent(self, now: float, recipients: int) -> None:
        self._not_before = now + recipients / self._budget
