"""The room state contract (``SessionState``), the same tests for each implementation:
in memory, on one Redis and (re-run from ``tests/cluster``) on Redis Cluster; two "nodes"
(two ``SessionStates`` on one Redis) keeping each atomic rule at once and finding a live
session again; and the local room bus (``LocalRoomBus``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from server.ids import MemberId, ParticipantId
from server.redis_client import RedisClient
from server.redis_client import connect as redis_connect
from server.rooms import errors as e
from server.rooms.bus import LocalRoomBus, RoomBus
from server.rooms.chat import Author
from server.rooms.model import Role
from server.rooms.products import Product
from server.rooms.resume import Away
from server.rooms.room_state import SessionState, SessionStates
from server.rooms.room_state_memory import MemorySessionStates
from server.rooms.room_state_redis import RedisSessionStates, session_key
from server.settings import InteractionSettings

CORA, ADA, BEA = MemberId("cora"), MemberId("ada"), MemberId("bea")

Opener = Callable[..., Awaitable[SessionState]]
Node = Callable[..., SessionStates]


@pytest.fixture(params=["memory", "redis"])
def node(request: pytest.FixtureRequest) -> Node:
    """Makes a ``SessionStates`` (of the given interaction settings): in memory, or one
    more node on the same Redis (the cluster when re-run from ``tests/cluster``)."""
    if request.param == "memory":
        return lambda **settings: MemorySessionStates(InteractionSettings(**settings))
    redis: RedisClient = request.getfixturevalue("redis")
    return lambda **settings: RedisSessionStates(redis, InteractionSettings(**settings))


@pytest.fixture
async def state(node: Node) -> Opener:
    """Opens a session of ``room`` ("vip") with the given interaction settings."""

    async def open_state(room: str = "vip", **settings: Any) -> SessionState:
        return await node(**settings).open(room, 1_000)

    return open_state


@pytest.fixture
async def nodes(redis: RedisClient) -> tuple[RedisSessionStates, RedisSessionStates]:
    """Two nodes on one Redis."""
    return RedisSessionStates(redis, InteractionSettings()), RedisSessionStates(
        redis, InteractionSettings()
    )


def author(member: MemberId) -> Author:
    return Author(ParticipantId(f"p-{member}"), member, member.title(), "member")


# --- session ---------------------------------------------------------------------------


async def test_each_session_has_its_own_id_and_ends_when_closed(state: Opener) -> None:
    first, second = await state("vip"), await state("lobby")
    assert first.session_id != second.session_id
    assert first.session_id.startswith("s3e8") and first.started_ms == 1_000
    assert await first.claim_place(CORA, 5)
    await first.close()
    assert first.closed and not second.closed
    assert await first.places_taken() == 0
    with pytest.raises(e.InvalidState):
        await first.claim_place(ADA, 5)  # nobody joins a session that is over
    again = await state("vip")  # the room opens again: a new session, empty
    assert again.session_id != first.session_id
    assert await again.places_taken() == 0 and await again.chat_history() == []


# --- capacity --------------------------------------------------------------------------


async def test_places_are_claimed_up_to_the_capacity_once_per_member(state: Opener) -> None:
    s = await state()
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


async def test_chat_keeps_the_last_messages_and_refuses_long_ones(state: Opener) -> None:
    s = await state(chat_history=3, chat_max_length=10)
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


async def test_one_upvote_per_member_and_question(state: Opener) -> None:
    s = await state()
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


async def test_questions_are_capped_and_one_is_pinned_at_a_time(state: Opener) -> None:
    s = await state(max_questions=2)
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


async def test_one_open_poll_and_one_vote_per_member_that_may_change(state: Opener) -> None:
    s = await state()
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


async def test_clicks_count_on_the_pinned_product_and_purchases_reach_the_summary(
    state: Opener,
) -> None:
    s = await state()
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


async def test_stage_roles_are_kept_per_member_and_cleared_by_member_or_host(state: Opener) -> None:
    s = await state()
    await s.set_stage_role(CORA, Role.SPEAKER)
    await s.set_stage_role(ADA, Role.COHOST)
    await s.set_stage_role(BEA, Role.HOST)  # hosts come from their token, not the stage
    assert await s.stage_roles() == {CORA: Role.SPEAKER, ADA: Role.COHOST}
    await s.set_stage_role(CORA, Role.MEMBER)
    assert await s.stage_roles() == {ADA: Role.COHOST}


async def test_what_a_leaver_may_resume_is_taken_once_per_member(state: Opener) -> None:
    s = await state()
    assert await s.came_back(CORA) is None
    await s.went_away(CORA, Away(at_ms=1000, live=False))
    await s.went_away(BEA, Away(at_ms=2000, live=True))
    await s.went_away(CORA, Away(at_ms=3000, live=False))  # the latest departure counts
    assert await s.came_back(CORA) == Away(at_ms=3000, live=False)
    assert await s.came_back(CORA) is None  # taken: a second page gets nothing
    assert await s.came_back(BEA) == Away(at_ms=2000, live=True)


# --- two nodes on one Redis --------------------------------------------------------------


async def test_two_nodes_voting_at_once_count_one_vote_per_member(
    nodes: tuple[RedisSessionStates, RedisSessionStates],
) -> None:
    a, b = [await n.open("vip", 1_000) for n in nodes]
    assert a.session_id == b.session_id  # one live session, seen from both nodes
    members = [MemberId(f"m{n}") for n in range(30)]
    question = await a.ask(author(CORA), "why?", 1)
    poll = await a.create_poll("colour?", ("red", "blue", "green"), 2)

    async def upvote(s: SessionState, m: MemberId) -> bool:
        try:
            await s.upvote(question.question_id, m)
        except e.AlreadyVoted:
            return False
        return True

    # Each member upvotes twice (once per node) and votes on both nodes at once.
    upvotes = await asyncio.gather(*(upvote(s, m) for m in members for s in (a, b)))
    await asyncio.gather(
        *(s.vote(poll.poll_id, m, k % 3) for m in members for k, s in enumerate((a, b)))
    )
    assert sum(upvotes) == len(members)  # the other of each pair was refused
    assert [q.votes for q in await b.questions()] == [len(members)]
    seen = await b.poll(poll.poll_id)
    assert seen is not None and len(seen.votes) == len(members)
    assert sum(seen.counts()) == len(members)


async def test_two_nodes_claiming_places_at_once_never_pass_the_capacity(
    nodes: tuple[RedisSessionStates, RedisSessionStates],
) -> None:
    a, b = [await n.open("vip", 1_000) for n in nodes]
    members = [MemberId(f"m{n}") for n in range(40)]
    got = await asyncio.gather(*(s.claim_place(m, 10) for m in members for s in (a, b)))
    assert await a.places_taken() == 10
    # A member holding a place got it on both nodes; everyone else on neither.
    assert sum(got) == 20 and all(x == y for x, y in zip(got[::2], got[1::2], strict=True))


async def test_a_node_opening_a_live_room_takes_its_session_back_with_its_state(
    nodes: tuple[RedisSessionStates, RedisSessionStates],
) -> None:
    """Failover: the node that owned the room is gone (its objects are never closed); a
    new owner opening the room gets the same session id and every item of its state."""
    old, new = nodes
    before = await old.open("vip", 1_000)
    bag = Product("bag-1", "Tote", "20", "https://shop.example/bag", "https://shop.example/b.png")
    await before.claim_place(CORA, 5)
    await before.set_stage_role(ADA, Role.SPEAKER)
    said = await before.post_chat(author(CORA), "  hello  ", 5)
    question = await before.ask(author(ADA), "why?", 6)
    await before.upvote(question.question_id, CORA)
    await before.pin_question(question.question_id)
    poll = await before.create_poll("colour?", ("red", "blue"), 7)
    await before.vote(poll.poll_id, BEA, 1)
    await before.pin_product(bag)
    await before.click_product("bag-1", BEA)
    await before.purchased("bag-1", {"member_id": BEA, "order_id": "o1"})

    after = await new.open("vip", 99_000)
    assert (after.session_id, after.started_ms) == (before.session_id, 1_000)
    assert await after.places_taken() == 1
    assert await after.stage_roles() == {ADA: Role.SPEAKER}
    assert await after.chat_history() == [said] and said.text == "hello"
    assert await after.questions() == await before.questions()
    (back,) = await after.questions()
    assert (back.votes, back.pinned, back.author) == (1, True, author(ADA))
    assert await after.polls() == await before.polls()
    assert await after.pinned_product() == bag
    assert await after.summary() == await before.summary()
    assert (await after.summary())["products"] == [
        {"id": "bag-1", "clicks": 1, "clickers": 1, "purchases": 1}
    ]
    # It goes on where it was: the next message and question are numbered after the old.
    assert (await after.post_chat(author(BEA), "hi", 8)).message_id == "c2"
    assert (await after.ask(author(BEA), "how?", 9)).question_id == "q2"


async def test_a_closed_session_keeps_its_keys_a_day_then_redis_drops_them(
    nodes: tuple[RedisSessionStates, RedisSessionStates], redis: RedisClient
) -> None:
    s = await nodes[0].open("vip", 1_000)
    await s.post_chat(author(CORA), "hi", 1)
    await s.ask(author(CORA), "why?", 2)
    meta = session_key("vip")
    assert await redis.ttl(meta) == -1  # live: kept
    await s.close()
    for key in (meta, f"{meta}:{s.session_id}:chat:ids", f"{meta}:{s.session_id}:qa"):
        assert 0 < await redis.ttl(key) <= 24 * 3600, key


async def test_a_redis_that_stops_answering_refuses_unavailable_and_the_room_reopens_afresh(
    redis: RedisClient, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis failing under a room: a change is refused ``unavailable`` (logged without a
    traceback) instead of an internal error, the close still ends the room, and this node
    then opens a new session rather than the one whose close was never written."""
    impatient = redis_connect(redis_server.url, 0.3)
    states = RedisSessionStates(impatient, InteractionSettings())
    s = await states.open("vip", 1_000)
    await s.post_chat(author(CORA), "hi", 1)
    await redis.execute_command("CLIENT", "PAUSE", "3000", "WRITE")
    try:
        with pytest.raises(e.StoreUnavailable):
            await s.post_chat(author(CORA), "again", 2)
        with pytest.raises(e.StoreUnavailable):
            await s.ask(author(CORA), "why?", 3)
        await s.close()  # refused too, but the room closes
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
    assert s.closed
    assert await redis.hget(session_key("vip"), "closed") == b"0"  # the close was lost
    again = await states.open("vip", 5_000)
    assert again.session_id != s.session_id and await again.chat_history() == []
    assert "room state unavailable" in caplog.text and "Traceback" not in caplog.text
    await impatient.aclose()
