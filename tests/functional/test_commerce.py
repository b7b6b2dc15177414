"""Product moments and purchases: the pinned product, clicks, and ``POST /api/purchases``
(admin key or HMAC signature) credited to a room session, against a real Redis."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.http.commerce import sign
from tests.functional.conftest import (
    ADMIN_KEY,
    PRODUCT,
    WEBHOOK_SECRET,
    Room,
    drain_presence,
    expect_nothing,
    purchase_events,
    stream_events,
)
from tests.support.markers import marker_event
from tests.support.waiting import eventually

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
    await eventually(lambda: redis.exists("salon:{m:cora}:click"), what="cora's last click kept")
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
    await marker_event(client, redis, ADMIN_KEY)  # a second one would be in the stream by then
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
    await eventually(lambda: redis.exists("salon:{m:cora}:click"), what="cora's last click kept")
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
    await marker_event(cora.client, redis, ADMIN_KEY)
    assert not [e for e in await stream_events(redis, 0) if e.kind == "purchase"]
    assert not await redis.exists("salon:{o:o-1}:purchase")
