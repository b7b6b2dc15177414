"""1:1 consultations over REST and the socket, against a real server and Redis: who may
ask (core by default), refusals by code that change nothing, the advisor's inbox and
answer, the private room's gate (its two people only, whatever token), the start and end
recorded with the length, purchases during and after it credited, and the webhooks of
each step."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.engagement.events import Event
from tests.functional.conftest import ADMIN_KEY, Socket, stream_events, token
from tests.functional.webhook_receiver import receiver
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SECRET = "whsec_consult_0123456789abcdef"
Client = TestClient[Any, Any]
KINDS = ["consultation.requested", "consultation.accepted", "consultation.ended"]


async def _call(
    client: Client, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.request(method, path, json=body, **kwargs)
    return response.status, await response.json()


async def _ask(client: Client, tok: str, note: Any = None, **extra: Any) -> tuple[int, Any]:
    return await _call(client, "POST", "/api/consultations", {"token": tok, "note": note, **extra})


async def _all(client: Client) -> list[dict[str, Any]]:
    status, body = await _call(client, "GET", "/api/consultations", headers=AUTH)
    assert status == 200, body
    listed: list[dict[str, Any]] = body["consultations"]
    return listed


def _token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def _buy(client: Client, order_id: str) -> tuple[int, dict[str, Any]]:
    order = {
        "order_id": order_id,
        "member_id": "cora",
        "product_id": "coat-1",
        "amount": "890.00",
        "currency": "EUR",
    }
    response = await client.post("/api/purchases", data=json.dumps(order), headers=AUTH)
    assert response.status == 201, await response.text()
    return response.status, await response.json()


async def _kinds(redis: Redis, consult_id: str, count: int) -> list[Event]:
    async def mine() -> list[Event]:
        return [
            e
            for e in await stream_events(redis, 0)
            if e.kind.startswith("consultation_") and e.data.get("consultation") == consult_id
        ]

    found: list[Event] = await eventually(
        mine, until=lambda es: len(es) >= count, what=f"{count} consultation events"
    )
    return found


async def test_request_rules_refuse_by_code_and_change_nothing(client: Client) -> None:
    refusals = [
        ("not-a-token", None, {}, 400, "bad_token"),
        (token("host", role="host"), None, {}, 400, "not_member"),
        (token("ada"), None, {}, 403, "tier_too_low"),
        (token("cora"), "x" * 501, {}, 400, "bad_note"),
        (token("cora"), "bell\x07", {}, 400, "bad_note"),
        (token("cora"), 42, {}, 400, "bad_note"),
        (token("cora"), "hi", {"session": "no spaces"}, 400, "bad_id"),
    ]
    for tok, note, extra, status, code in refusals:
        got, body = await _ask(client, tok, note, **extra)
        assert (got, body["error"]["code"]) == (status, code), body
        assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    assert await _all(client) == []

    status, made = await _ask(client, token("cora"), "  A fitting for the <b>spring</b> coat  ")
    assert status == 201, made
    first = made["consultation"]
    assert (first["member_id"], first["origin_room"], first["status"]) == ("cora", "vip", "pending")
    assert first["note"] == "A fitting for the <b>spring</b> coat"  # stored as text, trimmed
    # One open request per member: a second is refused with the first one's id.
    status, again = await _ask(client, token("cora", room="other"), "again")
    assert (status, again["error"]["code"]) == (409, "already_requested")
    assert again["error"]["params"]["id"] == first["id"]
    assert [c["id"] for c in await _all(client)] == [first["id"]]


async def test_the_advisor_inbox_and_answers_are_for_hosts_only(client: Client) -> None:
    status, made = await _ask(client, token("cody"))
    consult_id = made["consultation"]["id"]
    for path in ("/api/consultations/inbox", f"/api/consultations/{consult_id}/accept"):
        status, body = await _call(client, "POST", path, {"token": token("cora")})
        assert (status, body["error"]["code"]) == (403, "not_host"), body
    status, body = await _call(
        client, "POST", "/api/consultations/inbox", {"token": token("host", role="host")}
    )
    assert [c["id"] for c in body["consultations"]] == [consult_id]
    status, body = await _call(
        client,
        "POST",
        f"/api/consultations/{consult_id}/decline",
        {"token": token("host", role="host")},
    )
    assert (status, body["consultation"]["status"], body["link"]) == (200, "declined", None)
    status, body = await _call(
        client,
        "POST",
        f"/api/consultations/{consult_id}/accept",
        {"token": token("host", role="host")},
    )
    assert (status, body["error"]["code"]) == (409, "invalid_state"), body
    status, body = await _call(
        client, "POST", "/api/consultations/nope/accept", {"token": token("host", role="host")}
    )
    assert (status, body["error"]["code"]) == (404, "not_found")
    # Declined is over: the member may ask again.
    status, _ = await _ask(client, token("cody"))
    assert status == 201


async def test_accept_opens_a_private_room_for_two_and_records_its_length_and_sale(
    client: Client, connect: Any, redis: Redis
) -> None:
    """The whole path: webhooks of each step, the gate, the events and a purchase."""
    async with receiver(SECRET) as rec:
        hook = {"url": rec.url, "secret": SECRET, "kinds": KINDS}
        status, _ = await _call(client, "POST", "/api/webhooks", hook, headers=AUTH)
        assert status == 201
        status, made = await _ask(client, token("cora"), "Sizes, please")
        consult_id = made["consultation"]["id"]
        host_tok = token("host", role="host")
        status, accepted = await _call(
            client, "POST", f"/api/consultations/{consult_id}/accept", {"token": host_tok}
        )
        assert status == 200, accepted
        room_id = f"consult-{consult_id}"
        assert accepted["consultation"]["room_id"] == room_id
        assert accepted["link"].startswith(f"/rooms/{room_id}?token=")
        # The member's page learns it by asking; another member may not look.
        status, seen = await _call(
            client, "GET", f"/api/consultations/{consult_id}", params={"token": token("cora")}
        )
        assert (status, seen["consultation"]["status"]) == (200, "accepted")
        status, other = await _call(
            client, "GET", f"/api/consultations/{consult_id}", params={"token": token("cody")}
        )
        assert (status, other["error"]["code"]) == (403, "not_yours")

        # Operators cannot re-save it as an ordinary room (that would open its gate).
        body = {"title": "Open", "tiers": ["core"]}
        status, refused = await _call(client, "PUT", f"/api/rooms/{room_id}", body, headers=AUTH)
        assert (status, refused["error"]["code"]) == (400, "reserved_id"), refused

        # The gate: a valid token for the room is not enough, even a host's.
        for outsider, role in (("cody", "member"), ("ada", "host")):
            ws = await connect()
            reply = await ws.join(token(outsider, room=room_id, role=role), room=room_id)
            assert (reply["type"], reply["code"]) == ("error", "private_room"), reply

        member: Socket = await connect()
        joined = await member.join(_token_of(seen["link"]), room=room_id)
        assert joined["type"] == "joined", joined
        assert joined["you"]["role"] == "speaker"  # on stage from the start
        assert joined["room"]["kind"] == "consult"
        assert joined["room"]["speaker_cameras"] is True
        advisor: Socket = await connect()
        joined = await advisor.join(_token_of(accepted["link"]), room=room_id)
        assert joined["you"]["role"] == "host"
        await _kinds(redis, consult_id, 2)  # requested, started

        async def first() -> dict[str, Any]:
            return (await _all(client))[0]

        await eventually(first, until=lambda r: r["started_ms"] > 0, what="the start saved")
        # Bought during the call: the room attribution (presence) names the private
        # room, and the purchase is credited to the consultation.
        status, bought = await _buy(client, "o-during")
        assert bought["attribution"]["room_id"] == room_id
        assert bought["consultation"] == consult_id
        await member.ws.close()
        events = await _kinds(redis, consult_id, 4)
        assert [e.kind.value for e in events] == [
            "consultation_requested",
            "consultation_started",
            "consultation_purchase",
            "consultation_ended",
        ]
        assert all(e.member_id == "cora" for e in events)
        assert events[0].room_id == "vip" and events[3].room_id == room_id
        assert (events[2].data["order_id"], events[2].data["when"]) == ("o-during", "during")
        ended = events[3]
        assert ended.data["seconds"] > 0 and ended.data["advisor"] == "host"

        record = await eventually(first, until=lambda r: r["status"] == "ended", what="ended")
        assert record["seconds"] == ended.data["seconds"] and record["started_ms"] > 0

        # A purchase within the window after the end is credited to the consultation too.
        status, bought = await _buy(client, "o-after")
        assert bought["consultation"] == consult_id
        credited = await _kinds(redis, consult_id, 5)
        assert credited[4].kind == "consultation_purchase"
        assert (credited[4].data["order_id"], credited[4].data["when"]) == ("o-after", "after")
        assert (await _all(client))[0]["orders"] == ["o-after", "o-during"]

        await rec.wait_accepted(3)
        bodies = {s.kind: s.body["data"] for s in rec.accepted}
        assert set(bodies) == set(KINDS)
        assert bodies["consultation.requested"]["note"] == "Sizes, please"
        assert bodies["consultation.accepted"]["consult_room"] == room_id
        assert bodies["consultation.ended"]["seconds"] == ended.data["seconds"]
        assert all(s.signed for s in rec.accepted)
