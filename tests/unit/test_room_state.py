"""The in-memory room state (``MemorySessionState``) and the local room bus: each atomic
rule of the ``SessionState`` interface, and delivery through ``LocalRoomBus``."""

from __future__ import annotations

from typing import Any

import pytest

from server.ids import MemberId, ParticipantId
from server.rooms import errors as e
from server.rooms.bus import LocalRoomBus, RoomBus
from server.rooms.chat import Author
from server.rooms.model import Role
from server.rooms.products import Product
from server.rooms.resume import Away
from server.rooms.room_state import SessionState, SessionStates
from server.rooms.room_state_memory import MemorySessionState, MemorySessionStates
from server.settings import InteractionSettings

CORA, ADA, BEA = MemberId("cora"), MemberId("ada"), MemberId("bea")


def state(**settings: Any) -> SessionState:
    states: SessionStates = MemorySessionStates(InteractionSettings(**settings))
    return states.open("vip", 1_000)


def author(member: MemberId) -> Author:
    return Author(ParticipantId(f"p-{member}"), member, member.title(), "member")


# --- session ---------------------------------------------------------------------------


async def test_each_session_has_its_own_id_and_ends_when_closed() -> None:
    first, second = state(), state()
    assert first.session_id != second.session_id
    assert first.session_id.startswith("s3e8") and first.started_ms == 1_000
    assert await first.claim_place(CORA, 5)
    await first.close()
    assert first.closed and not second.closed
    assert await first.places_taken() == 0
    with pytest.raises(e.InvalidState):
        await first.claim_place(ADA, 5)  # nobody joins a session that is over


# --- capacity --------------------------------------------------------------------------


async def test_places_are_claimed_up_to_the_capacity_once_per_member() -> None:
    s = state()
    assert await s.claim_place(CORA, 2)
    assert await s.claim_place(CORA, 2)  # a second connection takes no second place
    assert await s.claim_place(ADA, 2)
    assert not await s.claim_place(BEA, 2)  # full: refused, nothing changed
    assert await s.places_taken() == 2
    assert await s.claim_place(CORA, 2)  # one who holds a place keeps it when full
    await s.release_place(CORA)
    await s.release_place(CORA)  # twice: nothing more happens
    assert await s.claim_place(BEA, 2)
    assert await s.places_taken() == 2


# --- chat ------------------------------------------------------------------------------


async def test_chat_keeps_the_last_messages_and_refuses_long_ones() -> None:
    s = state(chat_history=3, chat_max_length=10)
    for n in range(5):
        await s.post_chat(author(CORA), f"line {n}", n)
    assert [m.text for m in await s.chat_history()] == ["line 2", "line 3", "line 4"]
    with pytest.raises(e.TextTooLong):
        await s.post_chat(author(CORA), "x" * 11, 9)
    assert len(await s.chat_history()) == 3
    gone = (await s.chat_history())[0]
    assert await s.delete_chat(gone.message_id) == gone
    with pytest.raises(e.ItemNotFound):
        await s.delete_chat(gone.message_id)


# --- Q&A -------------------------------------------------------------------------------


async def test_one_upvote_per_member_and_question() -> None:
    s = state()
    question = await s.ask(author(CORA), "why?", 1)
    assert (await s.upvote(question.question_id, ADA)).votes == 1
    with pytest.raises(e.AlreadyVoted):
        await s.upvote(question.question_id, ADA)
    with pytest.raises(e.OwnItem):
        await s.upvote(question.question_id, CORA)
    assert (await s.upvote(question.question_id, BEA)).votes == 2
    assert (await s.unvote(question.question_id, ADA)).votes == 1
    with pytest.raises(e.NotVoted):
        await s.unvote(question.question_id, ADA)
    assert [q.votes for q in await s.questions()] == [1]


async def test_questions_are_capped_and_one_is_pinned_at_a_time() -> None:
    s = state(max_questions=2)
    one = await s.ask(author(CORA), "one?", 1)
    two = await s.ask(author(ADA), "two?", 2)
    with pytest.raises(e.LimitReached):
        await s.ask(author(BEA), "three?", 3)
    assert [q.question_id for q in await s.pin_question(one.question_id)] == [one.question_id]
    changed = await s.pin_question(two.question_id)
    assert {q.question_id for q in changed} == {one.question_id, two.question_id}
    assert (await s.unpin_question(two.question_id)).pinned is False
    assert (await s.answer(one.question_id)).state.value == "answered"
    assert (await s.dismiss(two.question_id)).state.value == "dismissed"


# --- polls -----------------------------------------------------------------------------


async def test_one_open_poll_and_one_vote_per_member_that_may_change() -> None:
    s = state()
    poll = await s.create_poll("colour?", ("red", "blue"), 1)
    with pytest.raises(e.InvalidState):
        await s.create_poll("size?", ("s", "m"), 2)  # one open poll at a time
    assert (await s.vote(poll.poll_id, CORA, 0))[1] is None
    changed, previous = await s.vote(poll.poll_id, CORA, 1)
    assert previous == 0 and changed.counts() == [0, 1]
    with pytest.raises(e.BadChoice):
        await s.vote(poll.poll_id, ADA, 2)
    closed = await s.close_poll(poll.poll_id)
    with pytest.raises(e.InvalidState):
        await s.vote(poll.poll_id, ADA, 0)
    assert await s.poll(poll.poll_id) == closed
    assert [p.poll_id for p in await s.polls()] == [poll.poll_id]
    assert await s.create_poll("size?", ("s", "m"), 3)  # closed: a new one may open


# --- products and the journal ----------------------------------------------------------


async def test_clicks_count_on_the_pinned_product_and_purchases_reach_the_summary() -> None:
    s = state()
    bag = Product("bag-1", "Tote", "20", "https://shop.example/bag")
    assert await s.pin_product(bag) is None
    assert await s.pinned_product() == bag
    await s.click_product("bag-1", CORA)
    stats = await s.click_product("bag-1", CORA)
    assert (stats.clicks, len(stats.clickers)) == (2, 1)
    with pytest.raises(e.ItemNotFound):
        await s.click_product("shoe-9", CORA)  # not the pinned one
    await s.purchased("bag-1", {"member_id": CORA, "order_id": "o1"})
    await s.tier_changed({"member_id": ADA, "to": "vip"})
    assert await s.unpin_product() == bag
    with pytest.raises(e.InvalidState):
        await s.unpin_product()
    summary = await s.summary()
    assert summary["purchases"] == [{"member_id": CORA, "order_id": "o1"}]
    assert summary["tier_changes"] == [{"member_id": ADA, "to": "vip"}]
    assert summary["products"] == [{"id": "bag-1", "clicks": 2, "clickers": 1, "purchases": 1}]
    assert (await s.product_stats("bag-1")) is not None
    assert isinstance(s, MemorySessionState)


# --- the bus ---------------------------------------------------------------------------


class Sub:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []

    def room_event(self, kind: str, payload: dict[str, Any]) -> None:
        self.got.append((kind, payload))


def test_the_bus_delivers_to_a_rooms_subscribers_or_only_to_some() -> None:
    bus: RoomBus = LocalRoomBus()
    a, b, other = Sub(), Sub(), Sub()
    bus.subscribe("vip", ParticipantId("pa"), a)
    bus.subscribe("vip", ParticipantId("pb"), b)
    bus.subscribe("lobby", ParticipantId("pc"), other)
    payload = {"text": "hi"}
    bus.publish("vip", "chat", payload)
    assert a.got == b.got == [("chat", payload)]
    assert a.got[0][1] is b.got[0][1] and a.got[0][1] is not payload  # one private copy
    bus.publish("vip", "tier", {"to": "vip"}, only=[ParticipantId("pb"), ParticipantId("gone")])
    assert [k for k, _ in a.got] == ["chat"] and [k for k, _ in b.got] == ["chat", "tier"]
    assert other.got == []  # another room hears nothing
    assert bus.subscribers("vip") == 2


def test_the_bus_forgets_who_unsubscribed_and_takes_a_new_subscription() -> None:
    bus = LocalRoomBus()
    old, new = Sub(), Sub()
    bus.subscribe("vip", ParticipantId("pa"), old)
    bus.subscribe("vip", ParticipantId("pa"), new)  # the same participant, a new end
    bus.publish("vip", "x", {})
    assert (old.got, len(new.got)) == ([], 1)
    bus.unsubscribe("vip", ParticipantId("pa"))
    bus.unsubscribe("vip", ParticipantId("pa"))  # twice: nothing more happens
    bus.publish("vip", "y", {})
    assert len(new.got) == 1 and bus.subscribers("vip") == 0


async def test_stage_roles_are_kept_per_member_and_cleared_by_member_or_host() -> None:
    s = state()
    await s.set_stage_role(CORA, Role.SPEAKER)
    await s.set_stage_role(ADA, Role.COHOST)
    await s.set_stage_role(BEA, Role.HOST)  # hosts come from their token, not the stage
    assert await s.stage_roles() == {CORA: Role.SPEAKER, ADA: Role.COHOST}
    await s.set_stage_role(CORA, Role.MEMBER)
    assert await s.stage_roles() == {ADA: Role.COHOST}


async def test_what_a_leaver_may_resume_is_taken_once_per_member() -> None:
    s = state()
    assert await s.came_back(CORA) is None
    await s.went_away(CORA, Away(at_ms=1000, live=False))
    await s.went_away(BEA, Away(at_ms=2000, live=True))
    await s.went_away(CORA, Away(at_ms=3000, live=False))  # the latest departure counts
    assert await s.came_back(CORA) == Away(at_ms=3000, live=False)
    assert await s.came_back(CORA) is None  # taken: a second page gets nothing
    assert await s.came_back(BEA) == Away(at_ms=2000, live=True)
