"""Chat, reactions, Q&A, polls and product moments against a real server and a real Redis.

Every rule of the interactions issue is exercised through the WebSocket (and the
purchases REST route), and engagement events are read back from the Redis stream.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import INTERACTIONS, RECORDER, SERVICE, create_app
from server.commerce_api import sign
from server.engagement.events import STREAM_KEY, Event, decode
from server.redis_embed import EmbeddedRedis
from tests.functional.conftest import ADMIN_KEY, Socket, make_settings, token

Connect = Callable[..., Awaitable[Socket]]
WEBHOOK_SECRET = "shop-webhook-secret-0123456789"
# Generous limits so that tests about other rules never trip them.
RELAXED = {
    "interactions.chat_burst": 500,
    "interactions.reaction_burst": 500,
    "interactions.vote_burst": 500,
    "interactions.question_burst": 500,
    "interactions.click_burst": 500,
    "commerce.webhook_secret": WEBHOOK_SECRET,
}
PRODUCT = {
    "type": "product_pin",
    "id": "bag-1",
    "title": "Spring <i>tote</i>",
    "price": "€49",
    "image": "https://cdn.example.com/bag.jpg",
    "link": "https://shop.example.com/p/bag-1",
}


@pytest.fixture
async def serve(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """``await serve(**overrides)``: a real server with these settings (plus RELAXED)."""

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        settings = make_settings(redis_server.url, **{**RELAXED, **overrides})
        return await aiohttp_client(create_app(settings))

    return start


class Person(Socket):
    """A joined socket, with what ``joined`` said and the server it is connected to."""

    def __init__(self, socket: Socket, client: TestClient[Any, Any], joined: dict[str, Any]):
        super().__init__(socket.ws)
        self.client = client
        self.joined = joined

    @property
    def state(self) -> dict[str, Any]:
        """The late-joiner state of the interactions feature."""
        state: dict[str, Any] = self.joined["interactions"]
        return state


Room = Callable[..., Awaitable[Person]]


@pytest.fixture
async def room(serve: Callable[..., Awaitable[TestClient[Any, Any]]]) -> Room:
    """``await room(member, role="member", **overrides)``: a joined socket in room vip.

    The first call starts the server (with ``overrides``); later calls join the same one.
    """
    clients: list[TestClient[Any, Any]] = []

    async def join(member: str, role: str = "member", **overrides: Any) -> Person:
        if not clients:
            clients.append(await serve(**overrides))
        elif overrides:
            raise AssertionError("one server per test: pass overrides on the first join")
        ws = Socket(await clients[0].ws_connect("/ws"))
        joined = await ws.join(token(member, role=role))
        assert joined["type"] == "joined", joined
        return Person(ws, clients[0], joined)

    return join


async def drain_presence(*sockets: Socket) -> None:
    """Read and drop presence messages already queued (joins of later sockets)."""
    for ws in sockets:
        while True:
            try:
                message = await ws.recv(timeout=0.05)
            except TimeoutError:
                break
            assert message["type"] == "presence", message


async def expect_nothing(ws: Socket, kind: str, within: float = 0.3) -> None:
    try:
        while True:
            message = await ws.recv(timeout=within)
            assert message["type"] != kind, message
    except TimeoutError:
        return


async def stream_events(redis: Redis, count: int, timeout: float = 5.0) -> list[Event]:
    """The stream's events once there are at least ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        events = [decode(fields[b"e"]) for _, fields in await redis.xrange(STREAM_KEY)]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.02)


async def purchase_events(redis: Redis, count: int) -> list[Event]:
    deadline = time.monotonic() + 5
    while True:
        events = [e for e in await stream_events(redis, 0) if e.kind == "purchase"]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.02)


def interaction_events(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind not in ("join", "leave")]


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
    assert "at most 20 characters" in reply["message"]
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
    await expect_nothing(watcher, "reactions", within=0.4)


async def test_unknown_reaction_is_refused(room: Room) -> None:
    cora = await room("cora")
    await cora.send({"type": "reaction", "emoji": "poop", "ref": "r"})
    reply = await cora.recv()
    assert (reply["code"], reply["ref"]) == ("invalid_field", "r")
    assert "heart" in reply["message"]
    await expect_nothing(cora, "reactions")


# --- Q&A ---------------------------------------------------------------------------------


async def ask(ws: Socket, text: str) -> dict[str, Any]:
    """Ask ``text`` and return the question as the room announced it."""
    await ws.send({"type": "question_ask", "text": text})
    while True:
        question: dict[str, Any] = (await ws.recv_type("question"))["question"]
        if question["text"] == text:
            return question


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
        assert "member cannot" in reply["message"]

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


# --- products and purchases --------------------------------------------------------------


async def test_host_pins_a_product_and_member_clicks_are_counted(room: Room, redis: Redis) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    await drain_presence(host)
    for bad in (
        {"link": "javascript:alert(1)"},
        {"link": "https://user:pw@shop.example.com/"},
        {"image": "data:image/png;base64,AAAA"},
        {"link": "ftp://shop.example.com/x"},
        {"title": ""},
        {"price": "1" * 40},
    ):
        await host.send({**PRODUCT, **bad, "ref": "bad"})
        reply = await host.recv_type("error")
        assert (reply["code"], reply["ref"]) == ("invalid_field", "bad"), (bad, reply)
    await cora.send(PRODUCT)
    assert (await cora.recv_type("error"))["code"] == "forbidden"
    await cora.send({"type": "product_click", "id": "bag-1"})
    assert (await cora.recv_type("error"))["code"] == "not_found"

    await host.send(PRODUCT)
    card = (await cora.recv_type("product"))["product"]
    assert card == {k: v for k, v in PRODUCT.items() if k != "type"}
    await cora.send({"type": "product_click", "id": "bag-1"})
    await cora.send({"type": "product_click", "id": "bag-1"})
    stats = await host.recv_type("product_stats")
    while stats["clicks"] < 2:
        stats = await host.recv_type("product_stats")
    assert (stats["id"], stats["clicks"], stats["clickers"]) == ("bag-1", 2, 1)
    await expect_nothing(cora, "product_stats")

    late = await room("ada")
    assert late.state["product"]["title"] == "Spring <i>tote</i>"
    await host.send({"type": "product_unpin"})
    assert (await late.recv_type("product"))["product"] is None
    for _ in range(50):
        if await redis.exists("salon:{m:cora}:click"):
            break
        await asyncio.sleep(0.02)
    assert (await redis.hget("salon:{m:cora}:click", "product")) == b"bag-1"


async def purchase(
    client: TestClient[Any, Any], body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"} if headers is None else headers
    response = await client.post("/api/purchases", data=json.dumps(body), headers=auth)
    return response.status, await response.json()


ORDER = {
    "order_id": "o-1",
    "member_id": "cora",
    "product_id": "bag-1",
    "amount": 49.0,
    "currency": "EUR",
}


async def test_purchase_while_in_the_room_is_credited_to_the_session(
    room: Room, redis: Redis
) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    await drain_presence(host)
    session = cora.state["session"]
    await host.send(PRODUCT)
    await cora.recv_type("product")
    client = cora.client
    status, answer = await purchase(client, ORDER)
    assert status == 201, answer
    assert answer["attribution"] == {"room_id": "vip", "session": session, "via": "presence"}
    assert answer["duplicate"] is False
    seen = await host.recv_type("purchase")
    assert (seen["member_id"], seen["name"], seen["product_id"], seen["amount"]) == (
        "cora",
        "Cora",
        "bag-1",
        "49.00",
    )
    await expect_nothing(cora, "purchase")
    # The same order again is answered, not counted twice.
    status, again = await purchase(client, ORDER)
    assert (status, again["duplicate"], again["attribution"]) == (200, True, answer["attribution"])
    await purchase_events(redis, 1)
    await asyncio.sleep(0.1)  # a second one would have been recorded by now
    events = await purchase_events(redis, 0)
    assert len(events) == 1
    event = events[0]
    assert (event.room_id, event.member_id) == ("vip", "cora")
    assert event.data == {
        "order_id": "o-1",
        "product_id": "bag-1",
        "amount": "49.00",
        "currency": "EUR",
        "session": session,
        "via": "presence",
    }


async def test_purchase_after_leaving_is_credited_through_the_last_click(
    room: Room, redis: Redis
) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    session = cora.state["session"]
    await host.send(PRODUCT)
    await cora.recv_type("product")
    await cora.send({"type": "product_click", "id": "bag-1"})
    for _ in range(100):
        if await redis.exists("salon:{m:cora}:click"):
            break
        await asyncio.sleep(0.02)
    await cora.send({"type": "leave"})
    await cora.closed_with()
    client = cora.client
    status, answer = await purchase(client, {**ORDER, "order_id": "o-2"})
    assert status == 201
    assert answer["attribution"] == {"room_id": "vip", "session": session, "via": "click"}
    # The host is still in that session: the purchase shows in the console.
    assert (await host.recv_type("purchase"))["order_id"] == "o-2"
    # Somebody who never clicked nor was in a room: recorded, credited to no room.
    status, answer = await purchase(client, {**ORDER, "order_id": "o-3", "member_id": "ada"})
    assert (status, answer["attribution"]) == (201, None)
    events = await purchase_events(redis, 2)
    assert [(e.room_id, e.data["via"]) for e in events] == [("vip", "click"), ("", "")]


async def test_purchase_api_accepts_an_hmac_signature_and_refuses_bad_ones(room: Room) -> None:
    cora = await room("cora")
    client = cora.client
    body = json.dumps({**ORDER, "order_id": "o-sig"}).encode()

    async def post(headers: dict[str, str], data: bytes = body) -> tuple[int, dict[str, Any]]:
        response = await client.post("/api/purchases", data=data, headers=headers)
        return response.status, await response.json()

    now = int(time.time())
    status, answer = await post({"X-Salon-Signature": sign("wrong-secret", body, now)})
    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert "does not match" in answer["error"]["message"]
    status, answer = await post({"X-Salon-Signature": sign(WEBHOOK_SECRET, body, now - 3600)})
    assert status == 401 and "too old" in answer["error"]["message"]
    tampered = body.replace(b"49.0", b"0.5")
    status, _ = await post({"X-Salon-Signature": sign(WEBHOOK_SECRET, body, now)}, tampered)
    assert status == 401
    status, answer = await post({})
    assert status == 401
    status, answer = await post({"Authorization": "Bearer nope"})
    assert status == 401
    status, answer = await post({"X-Salon-Signature": sign(WEBHOOK_SECRET, body, now)})
    assert status == 201, answer
    assert answer["attribution"]["via"] == "presence"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": -1}, "invalid_field"),
        ({"amount": "4.999"}, "invalid_field"),
        ({"amount": 0}, "invalid_field"),
        ({"amount": True}, "invalid_field"),
        ({"currency": "euro"}, "invalid_field"),
        ({"member_id": "bad id"}, "invalid_field"),
        ({"order_id": None}, "invalid_field"),
        ({"coupon": "X"}, "invalid_field"),
    ],
)
async def test_malformed_purchases_are_refused_and_record_nothing(
    room: Room, redis: Redis, change: dict[str, Any], code: str
) -> None:
    cora = await room("cora")
    status, answer = await purchase(cora.client, {**ORDER, **change})
    assert (status, answer["error"]["code"]) == (400, code)
    await asyncio.sleep(0.05)
    assert not [e for e in await stream_events(redis, 0) if e.kind == "purchase"]
    assert not await redis.exists("salon:{o:o-1}:purchase")


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
    assert "chat limit" in reply["message"] and reply["retry_after"] > 0
    # Other kinds have their own budget; other connections theirs.
    await cora.send({"type": "reaction", "emoji": "heart"})
    await ada.send({"type": "chat_send", "text": "still fine"})
    assert (await cora.recv_type("chat"))["text"] == "still fine"
    texts = []
    while True:
        try:
            message = await ada.recv(timeout=0.3)
        except TimeoutError:
            break
        if message["type"] == "chat":
            texts.append(message["text"])
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


# --- events, encodings, lifetime ---------------------------------------------------------


async def test_every_interaction_is_recorded_as_an_event(room: Room, redis: Redis) -> None:
    host = await room("host", "host", **{"interactions.flush_interval": 0.05})
    cora, ada = await room("cora"), await room("ada")
    session = cora.state["session"]
    await cora.send({"type": "chat_send", "text": "hello"})
    chat = await host.recv_type("chat")
    await host.send({"type": "chat_delete", "id": chat["id"]})
    await ada.send({"type": "reaction", "emoji": "clap"})
    question = await ask(cora, "why?")
    await ada.send({"type": "question_upvote", "id": question["id"]})
    await ada.recv_type("question_voted")
    await ada.send({"type": "question_unvote", "id": question["id"]})
    await ada.recv_type("question_voted")
    for verb in ("question_pin", "question_answer", "question_dismiss"):
        await host.send({"type": verb, "id": question["id"]})
    await host.recv_type("question_removed")
    await host.send({"type": "poll_create", "question": "?", "options": ["a", "b"]})
    poll = (await cora.recv_type("poll"))["poll"]
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 0})
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 1})
    await cora.send({"type": "poll_vote", "id": poll["id"], "option": 1})  # no change
    await host.send({"type": "poll_close", "id": poll["id"]})
    await cora.recv_type("poll")
    await host.send(PRODUCT)
    await cora.recv_type("product")
    await cora.send({"type": "product_click", "id": "bag-1"})
    await host.recv_type("product_stats")

    expected = [
        ("chat", "cora", "send"),
        ("chat", "host", "delete"),
        ("reaction", "ada", None),
        ("question", "cora", "ask"),
        ("upvote", "ada", "add"),
        ("upvote", "ada", "remove"),
        ("question", "host", "pin"),
        ("question", "host", "answer"),
        ("question", "host", "dismiss"),
        ("poll_vote", "host", "create"),
        ("poll_vote", "cora", "vote"),
        ("poll_vote", "cora", "change"),
        ("poll_vote", "host", "close"),
        ("product_click", "host", "pin"),
        ("product_click", "cora", "click"),
    ]
    events = interaction_events(await stream_events(redis, len(expected) + 3))
    assert [(e.kind.value, e.member_id, e.data.get("action")) for e in events] == expected
    now = time.time() * 1000
    for event in events:
        assert event.room_id == "vip"
        assert event.data["session"] == session
        assert now - 10_000 < event.ts_ms <= now
    assert events[0].data["length"] == 5
    assert events[2].data["emoji"] == "clap"
    assert events[4].data["author"] == "cora"
    assert events[11].data == {**events[11].data, "option": 1, "previous": 0}
    assert events[12].data["counts"] == [0, 1]
    assert events[6].data["role"] == "host" and events[3].data["role"] == "member"


async def test_interactions_speak_msgpack_too(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    client = await serve()
    ws = await client.ws_connect("/ws", protocols=("salon.v1.msgpack",))
    await ws.send_bytes(msgpack.packb({"type": "join", "token": token("cora"), "room": "vip"}))
    joined = msgpack.unpackb((await ws.receive(timeout=5)).data)
    assert joined["interactions"]["chat"] == []
    await ws.send_bytes(msgpack.packb({"type": "chat_send", "text": "packed"}))
    message = msgpack.unpackb((await ws.receive(timeout=5)).data)
    assert (message["type"], message["text"]) == ("chat", "packed")
    await ws.close()


async def test_room_state_goes_when_the_room_closes(
    serve: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """Per-room state is keyed weakly by the room: an emptied room leaves nothing behind."""
    client = await serve(**{"interactions.flush_interval": 0.05})
    ws = Socket(await client.ws_connect("/ws"))
    first = await ws.join(token("cora"))
    await ws.send({"type": "reaction", "emoji": "heart"})
    await ws.send({"type": "chat_send", "text": "bye"})
    await ws.recv_type("reactions")
    await ws.send({"type": "leave"})
    await ws.closed_with()
    service = client.server.app[SERVICE]
    for _ in range(50):
        if not service.live_rooms:
            break
        await asyncio.sleep(0.02)
    interactions = client.server.app[INTERACTIONS]
    for _ in range(50):
        gc.collect()
        if interactions.room_count == 0:
            break
        await asyncio.sleep(0.02)
    assert interactions.room_count == 0
    # A new session starts afresh: no chat, a new session id.
    ws = Socket(await client.ws_connect("/ws"))
    again = await ws.join(token("cora"))
    assert again["interactions"]["chat"] == []
    assert again["interactions"]["session"] != first["interactions"]["session"]


async def test_a_cohost_moderates_once_appointed(room: Room) -> None:
    """The role is read at each message: a member made co-host may moderate at once."""
    host, cora, ada = await room("host", "host"), await room("cora"), await room("ada")
    await drain_presence(host, cora)
    await ada.send({"type": "chat_send", "text": "off topic"})
    line = await cora.recv_type("chat")
    await cora.send({"type": "chat_delete", "id": line["id"]})
    assert (await cora.recv_type("error"))["code"] == "forbidden"
    await host.send({"type": "make_cohost", "participant": cora.joined["you"]["id"]})
    role = await cora.recv_type("role")
    assert role["participant"]["role"] == "cohost"
    await cora.send({"type": "chat_delete", "id": line["id"]})
    assert (await ada.recv_type("chat_deleted"))["id"] == line["id"]
    await cora.send({"type": "poll_create", "question": "Co-host poll?", "options": ["y", "n"]})
    assert (await ada.recv_type("poll"))["poll"]["question"] == "Co-host poll?"


async def test_the_room_keeps_going_when_redis_is_gone(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """Nobody waits for Redis; events wait in the recorder and are written once it is back."""
    from server import operations as ops
    from server.engagement.members import MemberStore
    from server.redis_embed import free_port, start_redis
    from server.rooms.store import RoomStore

    port = free_port()
    redis_server = start_redis(port)
    try:
        seed = Redis.from_url(redis_server.url)
        await ops.set_member(MemberStore(seed), "cora", "core", "Cora")
        await ops.set_member(MemberStore(seed), "ada", "active", "Ada")
        await ops.create_room(RoomStore(seed), "vip", "VIP", "core,active")
        await seed.aclose()
        settings = make_settings(redis_server.url, **{**RELAXED, "redis.timeout": 0.3})
        client = await aiohttp_client(create_app(settings))
        cora, ada = Socket(await client.ws_connect("/ws")), Socket(await client.ws_connect("/ws"))
        await cora.join(token("cora"))
        await ada.join(token("ada"))
        host = Socket(await client.ws_connect("/ws"))
        await host.join(token("host", role="host"))
        redis_server.stop()

        started = time.monotonic()
        await cora.send({"type": "chat_send", "text": "still here?"})
        assert (await ada.recv_type("chat"))["text"] == "still here?"
        await host.send(PRODUCT)
        await ada.recv_type("product")
        await ada.send({"type": "product_click", "id": "bag-1"})
        question = await ask(ada, "and now?")
        await cora.send({"type": "question_upvote", "id": question["id"]})
        assert (await cora.recv_type("question_voted"))["votes"] == 1
        assert time.monotonic() - started < 1.0
        recorder = client.server.app[RECORDER]
        assert recorder.depth >= 5  # chat, pin, click, question, upvote: kept, not lost

        redis_server = start_redis(port)  # back, empty: only what waited gets written
        again = Redis.from_url(redis_server.url)
        try:
            events = interaction_events(await stream_events(again, 5, timeout=10))
        finally:
            await again.aclose()
        assert [(e.kind.value, e.member_id) for e in events] == [
            ("chat", "cora"),
            ("product_click", "host"),
            ("product_click", "ada"),
            ("question", "ada"),
            ("upvote", "cora"),
        ]
        await client.close()  # while Redis is up: the leave events get written at once
    finally:
        redis_server.stop()
