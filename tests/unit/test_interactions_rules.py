"""The pure rules of interactions: chat, reactions, Q&A, polls, products and rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.error_text import sentence
from server.ids import MemberId, ParticipantId
from server.rooms import errors as e
from server.rooms.activity import Limiters, Limits
from server.rooms.chat import Author, ChatLog
from server.rooms.model import Participant, Role
from server.rooms.moderation import is_moderator
from server.rooms.polls import PollBox
from server.rooms.products import Product, ProductShelf
from server.rooms.qa import QaBoard, QuestionState
from server.rooms.ratelimit import Limit, Limiter
from server.rooms.reactions import REACTIONS, ReactionTally
from server.settings import InteractionSettings
from server.signaling.errors import close_for

MEMBERS = [MemberId(f"m{n}") for n in range(6)]


def author(n: int = 0, role: str = "member") -> Author:
    return Author(ParticipantId(f"p{n}"), MEMBERS[n], f"Member {n}", role)


# --- chat ------------------------------------------------------------------------------


def test_chat_keeps_the_last_messages_and_trims() -> None:
    log = ChatLog(history=3, max_length=10)
    for n in range(5):
        log.post(author(), f"  hi {n} ", 1000 + n)
    assert [m.text for m in log.history()] == ["hi 2", "hi 3", "hi 4"]
    assert [m.message_id for m in log.history()] == ["c3", "c4", "c5"]
    assert log.history()[0].to_json()["author"] == {
        "id": "p0",
        "member_id": "m0",
        "name": "Member 0",
        "role": "member",
    }


def test_chat_refuses_long_text_and_changes_nothing() -> None:
    log = ChatLog(history=3, max_length=5)
    with pytest.raises(e.TextTooLong):
        log.post(author(), "123456", 1)
    assert log.history() == []
    assert log.post(author(), "  12345  ", 1).text == "12345"  # trimmed first


def test_chat_deletes_any_retained_message_once() -> None:
    log = ChatLog(history=2, max_length=50)
    first = log.post(author(), "first", 1)
    for n in range(5):
        log.post(author(), f"later {n}", 2)
    # Scrolled out of the history late joiners get, but still deletable.
    assert log.delete(first.message_id) == first
    with pytest.raises(e.ItemNotFound):
        log.delete(first.message_id)
    with pytest.raises(e.ItemNotFound):
        log.delete("c999")


# --- reactions -------------------------------------------------------------------------


@given(st.lists(st.sampled_from(REACTIONS), max_size=300))
def test_reaction_tally_counts_everything_once(names: list[str]) -> None:
    tally = ReactionTally()
    firsts = [tally.add(name) for name in names]
    assert firsts.count(True) == (1 if names else 0)
    counts = tally.drain()
    assert sum(counts.values()) == len(names)
    assert all(counts[name] == names.count(name) for name in counts)
    assert list(counts) == [name for name in REACTIONS if name in counts]
    assert tally.drain() == {} and not tally.pending


def test_unknown_reaction_is_a_bug_not_a_count() -> None:
    with pytest.raises(ValueError):
        ReactionTally().add("poop")


# --- Q&A -------------------------------------------------------------------------------


def test_upvote_once_take_back_and_not_your_own() -> None:
    board = QaBoard()
    q = board.ask(author(0), "why?", 1)
    assert board.upvote(q.question_id, MEMBERS[1]).votes == 1
    with pytest.raises(e.AlreadyVoted):
        board.upvote(q.question_id, MEMBERS[1])
    with pytest.raises(e.OwnItem):
        board.upvote(q.question_id, MEMBERS[0])
    assert board.unvote(q.question_id, MEMBERS[1]).votes == 0
    with pytest.raises(e.NotVoted):
        board.unvote(q.question_id, MEMBERS[1])
    with pytest.raises(e.ItemNotFound):
        board.upvote("q99", MEMBERS[1])


Op = tuple[bool, int]  # (upvote?, member index)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5)), max_size=60))
def test_votes_equal_members_whose_last_accepted_action_was_an_upvote(ops: list[Op]) -> None:
    board = QaBoard()
    q = board.ask(author(0), "?", 1)
    voted: set[MemberId] = set()
    for up, n in ops:
        member = MEMBERS[n]
        try:
            if up:
                board.upvote(q.question_id, member)
            else:
                board.unvote(q.question_id, member)
        except (e.AlreadyVoted, e.NotVoted) as refused:
            # Refused exactly when the action would not change anything.
            assert (member in voted) == up, refused
            continue
        (voted.add if up else voted.discard)(member)
    assert q.votes == len(voted)
    assert q.voters == voted


@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.sets(st.integers(1, 5), max_size=5)),
        min_size=1,
        max_size=12,
    )
)
def test_questions_are_ordered_by_votes_then_time(
    asked: list[tuple[int, set[int]]],
) -> None:
    board = QaBoard()
    for ts, voters in asked:
        q = board.ask(author(0), f"asked at {ts}", ts)
        for n in voters:
            board.upvote(q.question_id, MEMBERS[n])
    ordered = board.ordered()
    keys = [(-q.votes, q.asked_ms, q.seq) for q in ordered]
    assert keys == sorted(keys)
    assert len(ordered) == len(asked)


def test_pin_one_at_a_time_answer_and_dismiss() -> None:
    board = QaBoard()
    one = board.ask(author(1), "one", 1)
    two = board.ask(author(2), "two", 2)
    assert board.pin(one.question_id) == [one]
    changed = board.pin(two.question_id)
    assert changed == [one, two] and not one.pinned and two.pinned
    assert board.pin(two.question_id) == []  # already pinned: nothing changes
    board.answer(two.question_id)
    assert (two.state, two.pinned) == (QuestionState.ANSWERED, False)
    for action in (board.answer, board.pin):
        with pytest.raises(e.InvalidState) as caught:
            action(two.question_id)
        assert caught.value.code == "invalid_state"
        assert caught.value.params["state"] == "answered"
    with pytest.raises(e.InvalidState):
        board.upvote(two.question_id, MEMBERS[3])
    with pytest.raises(e.InvalidState):
        board.unpin(one.question_id)
    # Answered questions come after open ones whatever their votes.
    assert [q.question_id for q in board.ordered()] == [one.question_id, two.question_id]
    board.dismiss(one.question_id)
    assert [q.question_id for q in board.ordered()] == [two.question_id]
    with pytest.raises(e.ItemNotFound):
        board.dismiss(one.question_id)


def test_question_limits() -> None:
    board = QaBoard(max_questions=2, max_length=5)
    with pytest.raises(e.TextTooLong):
        board.ask(author(), "123456", 1)
    first = board.ask(author(), "a", 1)
    board.ask(author(), "b", 1)
    with pytest.raises(e.LimitReached):
        board.ask(author(), "c", 1)
    board.dismiss(first.question_id)  # dismissed questions free their place
    board.ask(author(), "c", 1)


def test_late_joiner_sees_their_own_votes() -> None:
    board = QaBoard()
    q = board.ask(author(0), "?", 1)
    board.upvote(q.question_id, MEMBERS[1])
    assert q.to_json(MEMBERS[1])["voted"] is True
    assert q.to_json(MEMBERS[2])["voted"] is False
    assert "voted" not in q.to_json()


# --- polls -----------------------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), max_size=50))
def test_one_vote_per_member_and_the_last_one_counts(votes: list[tuple[int, int]]) -> None:
    box = PollBox()
    poll = box.create("Which?", ("a", "b", "c"), 1)
    last: dict[int, int] = {}
    for member, option in votes:
        _, previous = box.vote(poll.poll_id, MEMBERS[member], option)
        assert previous == last.get(member)
        last[member] = option
    counts = poll.counts()
    assert sum(counts) == len(last) == poll.to_json()["total"]
    assert counts == [list(last.values()).count(n) for n in range(3)]


def test_poll_lifecycle() -> None:
    box = PollBox(keep=2)
    poll = box.create("Which?", ("a", "b"), 1)
    with pytest.raises(e.InvalidState):
        box.create("Another?", ("a", "b"), 2)
    with pytest.raises(e.BadChoice):
        box.vote(poll.poll_id, MEMBERS[1], 2)
    box.vote(poll.poll_id, MEMBERS[1], 1)
    closed = box.close(poll.poll_id)
    assert closed.to_json(MEMBERS[1])["my_vote"] == 1
    assert closed.to_json(MEMBERS[2])["my_vote"] is None
    with pytest.raises(e.InvalidState):
        box.vote(poll.poll_id, MEMBERS[2], 0)
    with pytest.raises(e.InvalidState):
        box.close(poll.poll_id)
    with pytest.raises(e.ItemNotFound):
        box.vote("v9", MEMBERS[2], 0)
    with pytest.raises(ValueError):
        box.create("Too few?", ("a",), 3)
    # Only the last ``keep`` polls are kept; results of closed ones stay readable.
    for n in range(3):
        box.close(box.create(f"poll {n}", ("a", "b"), 3).poll_id)
    assert [p.question for p in box.all()] == ["poll 1", "poll 2"]


# --- products --------------------------------------------------------------------------


def test_products_pin_click_and_purchases() -> None:
    shelf = ProductShelf()
    bag = Product("bag", "Bag", "€49", "https://shop.example.com/bag")
    hat = Product("hat", "Hat", "€19", "https://shop.example.com/hat", "https://cdn.example.com/h")
    with pytest.raises(e.ItemNotFound):
        shelf.click("bag", MEMBERS[1])
    with pytest.raises(e.InvalidState):
        shelf.unpin()
    assert shelf.pin(bag) is None
    shelf.click("bag", MEMBERS[1])
    stats = shelf.click("bag", MEMBERS[1])
    assert stats.to_json("bag") == {"id": "bag", "clicks": 2, "clickers": 1, "purchases": 0}
    assert shelf.pin(hat) == bag
    with pytest.raises(e.ItemNotFound):
        shelf.click("bag", MEMBERS[2])  # only the pinned product takes clicks
    assert shelf.purchased("bag").purchases == 1
    assert shelf.unpin() == hat and shelf.pinned is None


# --- rate limits -----------------------------------------------------------------------


@given(
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 30),
    gaps=st.lists(st.floats(0, 2), max_size=200),
)
def test_token_bucket_never_allows_more_than_burst_plus_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    limit = Limit("chat", rate, burst)
    limiter = Limiter()
    now = 100.0
    accepted = 0
    for gap in gaps:
        now += gap
        try:
            limiter.check(limit, now)
            accepted += 1
        except e.RateLimited as refused:
            assert refused.limit == "chat" and refused.retry_after > 0
    assert accepted <= burst + rate * (now - 100.0) + 1e-6


def test_rate_limit_error_names_the_limit_and_when_to_retry() -> None:
    limit = Limit("reaction", 2.0, 3)
    limiter = Limiter()
    for _ in range(3):
        limiter.check(limit, 10.0)
    with pytest.raises(e.RateLimited) as caught:
        limiter.check(limit, 10.0)
    assert caught.value.retry_after == pytest.approx(0.5)
    assert caught.value.code == "rate_limited"
    assert caught.value.params == {"limit": "reaction", "burst": 3, "rate": 2.0, "retry_after": 0.5}
    assert close_for(caught.value) is None  # the socket stays open
    limiter.check(limit, 10.5)  # a token came back
    limiter.check(Limit("chat", 1.0, 1), 10.5)  # other kinds have their own bucket


def test_slow_limits_read_naturally() -> None:
    assert "then 1 every 5 seconds" in sentence(e.RateLimited("question", 0.2, 3, 4.0))
    assert "then 2 per second" in sentence(e.RateLimited("question", 2.0, 3, 4.0))


def test_limiters_idle_long_enough_to_be_full_again_are_dropped() -> None:
    activity = Limiters()
    chat = Limit("chat", 1.0, 5)
    for n in range(200):
        activity.limiter(MemberId(f"m{n}"), 0.0).check(chat, 0.0)
    busy = activity.limiter(MemberId("busy"), 1000.0)
    busy.check(chat, 1000.0)
    for n in range(200):
        activity.limiter(MemberId(f"later{n}"), 1000.0)
    assert activity.limiter_count < 300
    assert activity.limiter(MemberId("busy"), 1000.0) is busy


def test_a_member_has_one_limiter_whichever_connection_they_use() -> None:
    """Regression (issue 14): rate limits were per connection, so a reconnect refilled
    them."""
    activity = Limiters()
    chat = Limit("chat", 0.5, 2)
    first = activity.limiter(MemberId("cora"), 10.0)
    first.check(chat, 10.0)
    first.check(chat, 10.0)
    reconnected = activity.limiter(MemberId("cora"), 10.1)
    with pytest.raises(e.RateLimited):
        reconnected.check(chat, 10.1)


def test_limits_come_from_settings() -> None:
    limits = Limits.from_settings(InteractionSettings(chat_rate=3.0, chat_burst=7))
    assert limits["chat"] == Limit("chat", 3.0, 7)
    assert set(limits.by_name) == {"chat", "reaction", "question", "vote", "click", "moderation"}


def test_hosts_and_cohosts_moderate() -> None:
    def someone(role: Role) -> Participant:
        return Participant(ParticipantId("p1"), MEMBERS[1], "x", role, None, 0.0)

    assert is_moderator(someone(Role.HOST))
    assert is_moderator(someone(Role.COHOST))
    assert not is_moderator(someone(Role.MEMBER))
    assert not is_moderator(someone(Role.SPEAKER))


# --- settings --------------------------------------------------------------------------


def test_interaction_settings_come_from_the_environment() -> None:
    from server.settings import as_dict, load_settings

    settings = load_settings(
        env={
            "SALON_INTERACTIONS_CHAT_MAX_LENGTH": "200",
            "SALON_INTERACTIONS_REACTION_RATE": "2.5",
            "SALON_COMMERCE_WEBHOOK_SECRET": "s3cret",
        },
        need_secret=False,
    )
    assert settings.interactions.chat_max_length == 200
    assert settings.interactions.reaction_rate == 2.5
    assert settings.commerce.webhook_secret == "s3cret"
    assert as_dict(settings)["commerce"]["webhook_secret"] == "***"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("interactions.chat_max_length", 0, "chat_max_length"),
        ("interactions.flush_interval", 0.0, "flush_interval"),
        ("interactions.vote_rate", 0.0, "vote_rate"),
        ("interactions.click_burst", 0, "click_burst"),
        ("interactions.max_polls", 0, "max_polls"),
        ("commerce.signature_tolerance", 0, "signature_tolerance"),
    ],
)
def test_unusable_interaction_settings_stop_start_up(key: str, value: object, words: str) -> None:
    from server.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, overrides={key: value}, need_secret=False)
    assert words in str(caught.value)


def test_unknown_interaction_setting_is_named() -> None:
    from server.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="'interactions' has no key 'chat_max'"):
        load_settings(env={"SALON_INTERACTIONS_CHAT_MAX": "3"}, need_secret=False)
