"""Chat, reactions, Q&A, polls and rate limits against a real server and a real Redis.

Every rule of the interactions issue is exercised through the WebSocket. Product moments
and purchases are in test_commerce.py; events, encodings and lifetime in
test_interactions_lifetime.py; the shared room fixtures in conftest.py.
"""

from __future__ import annotations

import time

from tests.functional.conftest import (
    PRODUCT,
    Room,
    ask,
    before_marker,
    drain_presence,
    expect_nothing,
)

# --- chat --------------------------------------------------------------------------------


async def test_chat_reaches_everyone_and_html_stays_text(room: Room) -> None:
    cora, ada = await room("cora"), await room("ada")
    host = await room("host", "host")
    await drain_presence(cora, ada, host)
    text = '<img src=x onerror="alert(1)"> & <b>bold</b>'
    await ada.send({"type": "chat_send", "text": f"  {text}  ", "ref": "c-1"})
    for ws in (cora, ada, host):
        message = await ws.recv_type("chat")
        assert message["text"] == text  # trimmed, never escaped or stripped
        assert message["author"]["member_id"] == "ada"
        assert message["author"]["name"] == "Ada"
        assert message["id"] == "c1"
        assert isinstance(message["ts"], int)


async def test_late_joiner_gets_the_last_100_messages(room: Room) -> None:
    cora = await room("cora")
    for n in range(105):
        await cora.send({"type": "chat_send", "text": f"message {n}"})
    for _ in range(105):
        await cora.recv_type("chat")
    ada = await room("ada")
    history = ada.state["chat"]
    assert len(history) == 100
    assert [m["text"] for m in history] == [f"message {n}" for n in range(5, 105)]


async def test_too_long_or_malformed_chat_is_refused_and_changes_nothing(room: Room) -> None:
    cora = await room("cora", **{"interactions.chat_max_length": 20})
    ada = await room("ada")
    await drain_presence(cora)
    await cora.send({"type": "chat_send", "text": "x" * 21, "ref": "long"})
    reply = await cora.recv()
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "too_long", "long")
    assert reply["params"] == {"what": "message", "limit": 20}
    for bad in (
        {"type": "chat_send"},
        {"type": "chat_send", "text": 5},
        {"type": "chat_send", "text": "  "},
    ):
        await cora.send(bad)
        assert (await cora.recv())["code"] == "invalid_field"
    await cora.send({"type": "chat_send", "text": "y" * 5000})
    assert (await cora.recv())["code"] == "invalid_field"
    await expect_nothing(ada, "chat")
    late = await room("cody")
    assert late.state["chat"] == []


async def test_host_deletes_a_message_for_everyone_members_cannot(room: Room) -> None:
    cora, host = await room("cora"), await room("host", "host")
    await drain_presence(cora)
    await cora.send({"type": "chat_send", "text": "spam spam"})
    await cora.send({"type": "chat_send", "text": "hello"})
    first = await cora.recv_type("chat")
    await cora.recv_type("chat")
    await cora.send({"type": "chat_delete", "id": first["id"], "ref": "d"})
    reply = await cora.recv_type("error")
    assert (reply["code"], reply["ref"]) == ("forbidden", "d")
    await host.send({"type": "chat_delete", "id": first["id"]})
    for ws in (cora, host):
        assert (await ws.recv_type("chat_deleted"))["id"] == first["id"]
    await host.send({"type": "chat_delete", "id": first["id"]})
    assert (await host.recv_type("error"))["code"] == "not_found"
    late = await room("ada")
    texts = [m["text"] for m in late.state["chat"]]
    assert texts == ["hello"]


# --- reactions ---------------------------------------------------------------------------


async def test_reaction_bursts_are_aggregated(room: Room) -> None:
    overrides = {"interactions.flush_interval": 0.2}
    sockets = [await room("cora", **overrides), await room("cody"), await room("ada")]
    watcher = await room("host", "host")
    await drain_presence(*sockets)
    sent = {"heart": 0, "fire": 0}
    start = time.monotonic()
    for round_ in range(30):
        for ws in sockets:
            emoji = "heart" if round_ % 3 else "fire"
            await ws.send({"type": "reaction", "emoji": emoji})
            sent[emoji] += 1
    updates: list[dict[str, int]] = []
    received = {"heart": 0, "fire": 0}
    while received != sent:
        message = await watcher.recv_type("reactions", timeout=2)
        updates.append(message["counts"])
        for emoji, n in message["counts"].items():
            received[emoji] += n
    elapsed = time.monotonic() - start
    # 90 reactions became a handful of updates: at most one per flush interval.
    assert len(updates) <= elapsed / 0.2 + 1, (len(updates), elapsed)
    assert len(updates) < 10
    # Marker: one more reaction. Its update comes a flush interval later, after any other
    # update already due, so an update with anything else in it is one too many.
    await sockets[0].send({"type": "reaction", "emoji": "heart"})
    assert (await watcher.recv_type("reactions", timeout=2))["counts"] == {"heart": 1}


async def test_unknown_reaction_is_refused(room: Room) -> None:
    cora = await room("cora")
    await cora.send({"type": "reaction", "emoji": "poop", "ref": "r"})
    reply = await cora.recv()
    assert (reply["code"], reply["ref"]) == ("invalid_field", "r")
    assert "heart" in reply["message"]
    # Marker: a good reaction after the bad one; its coalesced update must hold it alone.
    await cora.send({"type": "reaction", "emoji": "heart"})
    assert (await cora.recv_type("reactions"))["counts"] == {"heart": 1}


# --- Q&A ---------------------------------------------------------------------------------


async def test_each_member_upvotes_once_and_may_take_it_back(room: Room) -> None:
    cora, ada = await room("cora"), await room("ada")
    await drain_presence(cora)
    question = await ask(cora, "When does the autumn drop ship?")
    assert (question["votes"], question["state"], question["pinned"]) == (0, "open", False)
    await ada.recv_type("question")

    await ada.send({"type": "question_upvote", "id": question["id"], "ref": "u1"})
    reply = await ada.recv_type("question_voted")
    assert (reply["voted"], reply["votes"], reply["ref"]) == (True, 1, "u1")
    assert (await cora.recv_type("question_votes"))["votes"] == 1

    await ada.send({"type": "question_upvote", "id": question["id"], "ref": "u2"})
    reply = await ada.recv_type("error")
    assert (reply["code"], reply["ref"]) == ("already_voted", "u2")

    await cora.send({"type": "question_upvote", "id": question["id"]})
    assert (await cora.recv_type("error"))["code"] == "own_item"

    await ada.send({"type": "question_unvote", "id": question["id"]})
    assert (await ada.recv_type("question_voted"))["voted"] is False
    assert (await cora.recv_type("question_votes"))["votes"] == 0
    await ada.send({"type": "question_unvote", "id": question["id"]})
    assert (await ada.recv_type("error"))["code"] == "not_voted"
    await ada.send({"type": "question_upvote", "id": "q999"})
    assert (await ada.recv_type("error"))["code"] == "not_found"


async def test_vote_survives_a_reconnect(room: Room) -> None:
    """Votes are per member: a new connection of the same member cannot vote again."""
    cora, ada = await room("cora"), await room("ada")
    question = await ask(cora, "Is there a size guide?")
    await ada.send({"type": "question_upvote", "id": question["id"]})
    await ada.recv_type("question_voted")
    again = await room("ada")
    listed = again.state["questions"]
    assert listed[0]["voted"] is True and listed[0]["votes"] == 1
    await again.send({"type": "question_upvote", "id": question["id"]})
    assert (await again.recv_type("error"))["code"] == "already_voted"


async def test_questions_are_ordered_by_votes_then_time_for_late_joiners(room: Room) -> None:
    cora, cody, ada = await room("cora"), await room("cody"), await room("ada")
    first = await ask(cora, "first")
    second = await ask(cora, "second")
    third = await ask(cody, "third")
    for ws, target in ((ada, third), (cora, third), (ada, second)):
        await ws.send({"type": "question_upvote", "id": target["id"]})
        await ws.recv_type("question_voted")
    await cody.send({"type": "leave"})
    await cody.closed_with()
    late = await room("cody")
    listed = late.state["questions"]
    assert [(q["text"], q["votes"]) for q in listed] == [("third", 2), ("second", 1), ("first", 0)]
    assert [q["voted"] for q in listed] == [False, False, False]
    assert first["id"] != second["id"] != third["id"]


async def test_host_pins_answers_and_dismisses_members_cannot(room: Room) -> None:
    cora, host = await room("cora"), await room("host", "host")
    await drain_presence(cora)
    one = await ask(cora, "one?")
    two = await ask(cora, "two?")
    for verb in ("question_pin", "question_answer", "question_dismiss"):
        await cora.send({"type": verb, "id": one["id"], "ref": verb})
        reply = await cora.recv_type("error")
        assert (reply["code"], reply["ref"]) == ("forbidden", verb)
        assert reply["params"]["role"] == "member"

    await host.send({"type": "question_pin", "id": one["id"]})
    pinned = (await cora.recv_type("question"))["question"]
    assert (pinned["id"], pinned["pinned"]) == (one["id"], True)
    # Pinning another unpins the first: one question is being answered at a time.
    await host.send({"type": "question_pin", "id": two["id"]})
    changes = [(await cora.recv_type("question"))["question"] for _ in range(2)]
    assert {(q["id"], q["pinned"]) for q in changes} == {(one["id"], False), (two["id"], True)}

    await host.send({"type": "question_answer", "id": two["id"]})
    answered = (await cora.recv_type("question"))["question"]
    assert (answered["state"], answered["pinned"]) == ("answered", False)
    await cora.send({"type": "question_upvote", "id": two["id"]})
    assert (await cora.recv_type("error"))["code"] == "invalid_state"
    await host.send({"type": "question_pin", "id": two["id"]})
    assert (await host.recv_type("error"))["code"] == "invalid_state"

    await host.send({"type": "question_dismiss", "id": one["id"]})
    assert (await cora.recv_type("question_removed"))["id"] == one["id"]
    late = await room("ada")
    listed = late.state["questions"]
    assert [(q["id"], q["state"]) for q in listed] == [(two["id"], "answered")]


# --- polls -------------------------------------------------------------------------------


async def test_poll_from_creation_to_results(room: Room) -> None:
    host = await room("host", "host", **{"interactions.flush_interval": 0.05})
    cora, ada = await room("cora"), await room("ada")
    await drain_presence(host, cora)
    await host.send({"type": "poll_create", "question": "Which colour?", "options": ["Red"]})
    assert (await host.recv_type("error"))["code"] == "invalid_field"
    await host.send(
        {"type": "poll_create", "question": "Which colour?", "options": [str(n) for n in range(7)]}
    )
    assert (await host.recv_type("error"))["code"] == "invalid_field"
    await host.send({"type": "poll_create", "question": "Which?", "options": ["Red", " red "]})
    assert (await host.recv_type("error"))["code"] == "invalid_field"
    await cora.send({"type": "poll_create", "question": "Mine?", "options": ["a", "b"]})
    assert (await cora.recv_type("error"))["code"] == "forbidden"

    await host.send(
        {"type": "poll_create", "question": "Which colour?", "options": ["Red", "Sand", "Navy"]}
    )
    poll = (await ada.recv_type("poll"))["poll"]
    assert (poll["state"], poll["counts"], poll["options"]) == (
        "open",
        [0, 0, 0],
        ["Red", "Sand", "Navy"],
    )
    await host.send({"type": "poll_create", "question": "Another?", "options": ["a", "b"]})
    assert (await host.recv_type("error"))["code"] == "invalid_state"

    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 1, "ref": "v"})
    assert (await cora.recv_type("poll_voted")) == {
        "type": "poll_voted",
        "id": poll["id"],
        "option": 1,
        "ref": "v",
    }
    results = await ada.recv_type("poll_results")
    assert (results["counts"], results["total"]) == ([0, 1, 0], 1)
    # A member may change their vote while the poll is open; it still counts once.
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 2})
    await ada.send({"type": "poll_vote", "id": poll["id"], "option": 2})
    await ada.send({"type": "poll_vote", "id": poll["id"], "option": 3})
    assert (await ada.recv_type("error"))["code"] == "invalid_field"
    while (results := await host.recv_type("poll_results"))["total"] != 2 or results["counts"] != [
        0,
        0,
        2,
    ]:
        pass

    await cora.send({"type": "poll_close", "id": poll["id"]})
    assert (await cora.recv_type("error"))["code"] == "forbidden"
    await host.send({"type": "poll_close", "id": poll["id"]})
    closed = (await cora.recv_type("poll"))["poll"]
    assert (closed["state"], closed["counts"], closed["total"]) == ("closed", [0, 0, 2], 2)
    await ada.send({"type": "poll_vote", "id": poll["id"], "option": 0})
    assert (await ada.recv_type("error"))["code"] == "invalid_state"

    late = await room("cody")
    polls = late.state["polls"]
    assert [(p["state"], p["counts"], p["my_vote"]) for p in polls] == [("closed", [0, 0, 2], None)]
    again = await room("cora")
    assert again.state["polls"][0]["my_vote"] == 2


# --- limits ------------------------------------------------------------------------------


async def test_rate_limits_name_the_limit_and_are_per_kind(room: Room) -> None:
    cora = await room("cora", **{"interactions.chat_burst": 2, "interactions.chat_rate": 0.5})
    ada = await room("ada")
    await drain_presence(cora)
    for n in range(2):
        await cora.send({"type": "chat_send", "text": f"hi {n}"})
        await cora.recv_type("chat")
    await cora.send({"type": "chat_send", "text": "too fast", "ref": "x"})
    reply = await cora.recv()
    assert (reply["type"], reply["code"], reply["limit"], reply["ref"]) == (
        "error",
        "rate_limited",
        "chat",
        "x",
    )
    assert reply["params"]["limit"] == "chat" and reply["retry_after"] > 0
    # Other kinds have their own budget; other connections theirs.
    await cora.send({"type": "reaction", "emoji": "heart"})
    await ada.send({"type": "chat_send", "text": "still fine"})
    assert (await cora.recv_type("chat"))["text"] == "still fine"
    texts = [m["text"] for m in await before_marker(ada) if m["type"] == "chat"]
    assert texts == ["hi 0", "hi 1", "still fine"] or texts == ["still fine"]


async def test_host_moderation_is_limited_too(room: Room) -> None:
    host = await room(
        "host", "host", **{"interactions.moderation_burst": 1, "interactions.moderation_rate": 0.1}
    )
    await host.send(PRODUCT)
    await host.recv_type("product")
    await host.send({"type": "product_unpin"})
    reply = await host.recv_type("error")
    assert (reply["code"], reply["limit"]) == ("rate_limited", "moderation")
