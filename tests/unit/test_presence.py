"""The people list's order and pages, presence batches and their pacing (pure, no I/O)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.ids import MemberId, ParticipantId
from server.rooms.model import Participant, Role
from server.rooms.presence import Pacing, PresenceBatch, Roster


def person(n: int, role: Role = Role.MEMBER, name: str | None = None) -> Participant:
    return Participant(
        ParticipantId(f"p{n}"), MemberId(f"m{n}"), name or f"Person {n}", role, None, 0.0
    )


def ids(people: list[Participant]) -> list[str]:
    return [p.participant_id for p in people]


def test_first_page_is_hosts_cohosts_speakers_then_newest_members() -> None:
    roster = Roster()
    roster.add(person(1))
    roster.add(person(2, Role.SPEAKER))
    roster.add(person(3, Role.HOST))
    for n in range(4, 10):
        roster.add(person(n))
    roster.update(person(5, Role.COHOST))
    page = roster.first_page(3)
    assert ids(page.people) == ["p3", "p5", "p2", "p9", "p8", "p7"]
    more = roster.members(page.next, 3)
    assert ids(more.people) == ["p6", "p4", "p1"]
    assert more.next is None
    assert len(roster) == 9


def test_a_speaker_back_among_members_keeps_their_place_by_join_order() -> None:
    roster = Roster()
    for n in range(1, 5):
        roster.add(person(n))
    roster.update(person(2, Role.SPEAKER))
    assert ids(roster.members(None, 10).people) == ["p4", "p3", "p1"]
    roster.update(person(2))
    assert ids(roster.members(None, 10).people) == ["p4", "p3", "p2", "p1"]
    roster.remove(ParticipantId("p3"))
    roster.remove(ParticipantId("p3"))  # twice: nothing more happens
    assert ids(roster.first_page(10).people) == ["p4", "p2", "p1"]


@given(st.lists(st.booleans(), min_size=1, max_size=200), st.integers(1, 20))
def test_pages_cover_every_member_once_in_join_order(leaves: list[bool], size: int) -> None:
    roster = Roster()
    for n, _ in enumerate(leaves):
        roster.add(person(n))
    for n, gone in enumerate(leaves):
        if gone:
            roster.remove(ParticipantId(f"p{n}"))
    seen: list[str] = []
    page = roster.members(None, size)
    seen += ids(page.people)
    while page.next is not None:
        assert len(page.people) == size
        page = roster.members(page.next, size)
        seen += ids(page.people)
    expected = [f"p{n}" for n in reversed(range(len(leaves))) if not leaves[n]]
    assert seen == expected


def test_search_finds_by_name_or_member_id_in_any_case() -> None:
    roster = Roster()
    roster.add(person(1, name="Zoë Lambert"))
    roster.add(person(2, name="Sam"))
    roster.add(person(3, Role.HOST, name="Hana"))
    assert ids(roster.search("zoË", 10)) == ["p1"]
    assert ids(roster.search("m2", 10)) == ["p2"]
    assert ids(roster.search("a", 2)) == ["p3", "p2"]  # featured first, then newest
    assert roster.search("nobody", 10) == []


def test_a_batch_tells_the_leave_of_who_came_and_went_within_it() -> None:
    """Regression: a join and a leave within one delta cancelled out, so a member who
    joined in between (and got the leaver in their first page of people) kept a ghost."""
    batch = PresenceBatch()
    assert not batch.pending
    batch.joined(ParticipantId("p1"))
    batch.joined(ParticipantId("p2"))
    batch.left(ParticipantId("p1"))
    batch.left(ParticipantId("p0"))
    assert batch.take() == (["p2"], ["p1", "p0"])
    assert not batch.pending


def test_pacing_keeps_a_room_within_its_budget() -> None:
    pacing = Pacing(0.25, budget=2000)
    assert pacing.delay(10.0) == 0.25
    pacing.sent(10.0, recipients=1000)  # 1,000 sockets: the next no sooner than 0.5 s on
    assert abs(pacing.delay(10.1) - 0.4) < 1e-9
    assert pacing.delay(11.0) == 0.25
