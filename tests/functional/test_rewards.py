"""Rewards through a real server and a real Redis: coupon drops and claims, purchases that
redeem a code, quizzes, lucky draws, check-ins and points, and the operator's views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.engagement.members import MemberStore
from server.engagement.reward_points import load_point_rules
from server.engagement.rules import DEFAULT_RULES_FILE
from server.rooms.store import RoomStore
from tests.functional.conftest import (
    ADMIN_KEY,
    Person,
    Restartable,
    Room,
    Socket,
    drain_presence,
    make_settings,
    stream_events,
    token,
)
from tests.support.markers import marker_event
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
RULES = load_point_rules()


async def api(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    response = await client.request(method, path, json=body, headers=AUTH)
    return response.status, await response.json()


async def define_coupon(
    client: TestClient[Any, Any], coupon_id: str = "spring", **fields: Any
) -> None:
    body = {
        "title": "Spring <b>offer</b>",
        "value": "10.00",
        "count": 5,
        "tiers": ["core"],
        **fields,
    }
    status, answer = await api(client, "PUT", f"/api/coupons/{coupon_id}", body)
    assert status == 200, answer


async def error(person: Socket, ref: str | None = None) -> dict[str, Any]:
    reply = await person.recv_type("error")
    if ref is not None:
        assert reply.get("ref") == ref, reply
    return reply


async def marker(person: Person) -> None:
    """Send a request whose reply arrives after anything the server sent before it."""
    await person.send({"type": "rewards_me", "ref": "marker"})


async def until_marker(person: Person, kind: str) -> list[dict[str, Any]]:
    """Messages of ``kind`` that arrive before the marker's reply."""
    seen = []
    while True:
        message = await person.recv()
        if message["type"] == "rewards_self" and message.get("ref") == "marker":
            return seen
        if message["type"] == kind:
            seen.append(message)


async def test_a_dropped_coupon_is_claimed_by_the_eligible_and_explained_to_others(
    room: Room, redis: Redis
) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    cody = await room("cody")
    ada = await room("ada")
    await drain_presence(host, cora, cody)
    await define_coupon(host.client, count=1)

    await cora.send({"type": "coupon_drop", "coupon": "spring", "ref": "d"})
    assert (await error(cora, "d"))["code"] == "forbidden"
    await host.send({"type": "coupon_drop", "coupon": "nope", "ref": "d"})
    assert (await error(host, "d"))["code"] == "no_coupon"
    await host.send({"type": "coupon_drop", "coupon": "spring"})
    offer = await cora.recv_type("coupon_drop")
    assert (offer["title"], offer["value"], offer["eligible"]) == (
        "Spring <b>offer</b>",
        "10.00",
        True,
    )
    not_for_ada = await ada.recv_type("coupon_drop")
    assert not_for_ada["eligible"] is False
    assert (not_for_ada["why_code"], not_for_ada["why_params"]) == (
        "not_eligible",
        {"tiers": ["core"], "tier": "active"},
    )
    await host.send({"type": "coupon_drop", "coupon": "spring", "ref": "again"})
    assert (await error(host, "again"))["code"] == "drop_running"

    drop = offer["id"]
    await ada.send({"type": "coupon_claim", "drop": drop, "ref": "c"})
    refused = await error(ada, "c")
    assert (refused["code"], refused["params"]) == ("not_eligible", not_for_ada["why_params"])
    assert refused["message"] == not_for_ada["why"]  # one catalog renders both
    await host.send({"type": "coupon_claim", "drop": drop, "ref": "c"})
    assert (await error(host, "c"))["code"] == "staff"
    await cora.send({"type": "coupon_claim", "drop": drop, "ref": "c"})
    claimed = await cora.recv_type("coupon_claimed")
    assert claimed["ref"] == "c" and claimed["code"].startswith("SALON-")
    await cody.send({"type": "coupon_claim", "drop": drop, "ref": "c"})
    assert (await error(cody, "c"))["code"] == "sold_out"
    stock = await cody.recv_type("coupon_stock")
    assert stock == {"type": "coupon_stock", "id": drop, "remaining": 0}

    status, figures = await api(host.client, "GET", "/api/coupons/spring")
    assert status == 200
    assert figures["claimed"] == 1
    assert [(d["id"], d["room"], d["claims"]) for d in figures["drops"]] == [(drop, "vip", 1)]
    await marker_event(host.client, redis, ADMIN_KEY)  # a second claim would be in by then
    kinds = [e.kind for e in await stream_events(redis, 0)]
    assert "coupon_drop" in kinds and kinds.count("coupon_claim") == 1

    # A member joining later sees the running offer; after the host ends it, nobody does.
    await ada.send({"type": "leave"})
    await ada.closed_with()
    await host.recv_type("presence")
    pia = await room("pia")
    assert pia.joined["rewards"]["drop"]["id"] == drop
    await host.send({"type": "coupon_end"})
    assert (await cora.recv_type("coupon_end"))["id"] == drop
    await cora.send({"type": "coupon_claim", "drop": drop, "ref": "late"})
    assert (await error(cora, "late"))["code"] == "no_drop"


async def test_a_purchase_with_a_code_redeems_it_for_its_drop_and_session(
    room: Room, redis: Redis
) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    await drain_presence(host)
    session = f"vip:{cora.state['session']}"
    await define_coupon(host.client)
    await host.send({"type": "coupon_drop", "coupon": "spring"})
    drop = (await cora.recv_type("coupon_drop"))["id"]
    await cora.send({"type": "coupon_claim", "drop": drop})
    code = (await cora.recv_type("coupon_claimed"))["code"]

    order = {
        "order_id": "o-1",
        "member_id": "cora",
        "product_id": "bag-1",
        "amount": "90.00",
        "currency": "EUR",
    }
    status, answer = await api(
        host.client, "POST", "/api/purchases", {**order, "coupon": "bad code!"}
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_field")
    status, answer = await api(
        host.client, "POST", "/api/purchases", {**order, "coupon": code.lower()}
    )
    assert status == 201, answer
    assert answer["coupon"] == {
        "redeemed": True,
        "code": code,
        "coupon": "spring",
        "drop": drop,
        "value": "10.00",
    }
    assert answer["points"] == RULES.purchase_points("90.00")
    status, again = await api(host.client, "POST", "/api/purchases", {**order, "coupon": code})
    assert (status, again["duplicate"]) == (200, True)
    other = {**order, "order_id": "o-2", "coupon": code}
    status, answer = await api(host.client, "POST", "/api/purchases", other)
    assert status == 201 and answer["coupon"]["error"] == "already_redeemed"

    status, figures = await api(host.client, "GET", "/api/coupons/spring")
    assert (
        figures["redeemed"],
        figures["drops"][0]["redeemed"],
        figures["drops"][0]["discount"],
    ) == (1, 1, "10.00")
    status, points = await api(host.client, "GET", "/api/members/cora/points")
    assert points["balance"] == RULES.purchase_points("90.00") * 2  # two orders, once each
    # The session's metrics carry the reward figures and the ROI counting the discount.
    await api(host.client, "PUT", f"/api/metrics/sessions/{session}/cost", {"cost": "50.00"})

    def complete(answer: tuple[int, Any]) -> bool:
        status, report = answer
        return status == 200 and report["revenue"] == "180.00" and report["cost"] == "50.00"

    async def session_report() -> tuple[int, Any]:
        answer = await api(host.client, "GET", f"/api/metrics/sessions/{session}")
        if not complete(answer):  # the cost again, in case the session was written after it
            await api(
                host.client, "PUT", f"/api/metrics/sessions/{session}/cost", {"cost": "50.00"}
            )
        return answer

    _status, report = await eventually(
        session_report, until=complete, interval=0.1, what="the session's revenue and cost"
    )
    assert report["rewards"]["claims"] == 1 and report["rewards"]["redemptions"] == 1
    assert report["rewards"]["discount"] == "10.00"
    assert report["roi_with_rewards"] == round((180 - 60) / 60, 4)


async def test_a_quiz_takes_one_answer_each_and_shares_its_points(room: Room, redis: Redis) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    cody = await room("cody")
    await drain_presence(host, cora)
    ask = {
        "type": "quiz_ask",
        "question": "Which fabric?",
        "options": ["Silk", "Wool"],
        "correct": 1,
    }
    await host.send({**ask, "seconds": 3, "points": 100, "ref": "q"})
    assert (await error(host, "q"))["code"] == "invalid_field"
    await host.send({**ask, "seconds": 5, "points": 100})
    quiz = await cora.recv_type("quiz")
    assert "correct" not in quiz and quiz["options"] == ["Silk", "Wool"]
    await cora.send({"type": "quiz_answer", "quiz": quiz["id"], "option": 1, "ref": "a"})
    assert (await cora.recv_type("quiz_answered"))["ref"] == "a"
    await cora.send({"type": "quiz_answer", "quiz": quiz["id"], "option": 0, "ref": "b"})
    assert (await error(cora, "b"))["code"] == "already_answered"
    await cody.send({"type": "quiz_answer", "quiz": quiz["id"], "option": 0})
    await cody.recv_type("quiz_answered")
    await host.send({"type": "quiz_answer", "quiz": quiz["id"], "option": 1, "ref": "h"})
    assert (await error(host, "h"))["code"] == "staff"

    result = await cora.recv_type("quiz_result", timeout=10)
    assert (result["correct"], result["counts"], result["winners"], result["share"]) == (
        1,
        [1, 1],
        1,
        100,
    )
    assert (await cody.recv_type("quiz_result"))["counts"] == [1, 1]
    mine = await cora.recv_type("quiz_you")
    assert (mine["correct"], mine["points"]) == (True, 100)
    await marker(cody)
    assert await until_marker(cody, "quiz_you") == []
    _status, points = await api(host.client, "GET", "/api/members/cora/points")
    assert points["balance"] == 100 + RULES.quiz_answer
    _status, records = await api(host.client, "GET", "/api/rooms/vip/rewards")
    assert records["quizzes"][0]["answered"] == 2
    _status, totals = await api(host.client, "GET", "/api/metrics/rewards")
    assert (totals["quizzes"], totals["quiz_answers"], totals["quiz_correct"]) == (1, 2, 1)
    await cora.send({"type": "quiz_answer", "quiz": quiz["id"], "option": 1, "ref": "late"})
    assert (await error(cora, "late"))["code"] == "no_quiz"


async def test_a_lucky_draw_is_kept_with_its_audit(room: Room, redis: Redis) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    cody = await room("cody")
    await drain_presence(host, cora)
    await define_coupon(host.client, count=10, tiers=[])
    await host.send(
        {"type": "draw_run", "condition": "asked", "winners": 1, "note": "A bag", "ref": "x"}
    )
    assert (await error(host, "x"))["code"] == "nobody_eligible"
    await cora.send({"type": "chat_send", "text": "hello"})
    await cora.recv_type("chat")
    await host.send(
        {
            "type": "draw_run",
            "condition": "chatted",
            "winners": 3,
            "coupon": "spring",
            "note": "A bag",
        }
    )
    result = await cody.recv_type("draw_result")
    assert [w["member_id"] for w in result["winners"]] == ["cora"] and result["eligible"] == 1
    won = await cora.recv_type("draw_won")
    assert won["note"] == "A bag" and won["code"].startswith("SALON-")
    _status, figures = await api(host.client, "GET", "/api/coupons/spring")
    prizes = [(d["id"], d["room"], d["claims"]) for d in figures["drops"]]
    assert prizes == [(result["id"], "vip", 1)]
    await marker(cody)
    assert await until_marker(cody, "draw_won") == []

    await host.send(
        {"type": "draw_run", "condition": "present", "winners": 1, "weighted": True, "note": "Tea"}
    )
    second = await cora.recv_type("draw_result")
    assert second["winners"][0]["member_id"] in ("cora", "cody")
    _status, records = await api(host.client, "GET", "/api/rooms/vip/rewards")
    latest, first = records["draws"][0], records["draws"][1]
    assert [e["member_id"] for e in latest["eligible"]] == ["cody", "cora"]
    assert latest["seed"] == second["seed"] and latest["verified"] is True and latest["weights"]
    assert first["winners"] == ["cora"] and first["verified"] is True
    _status, totals = await api(host.client, "GET", "/api/metrics/rewards")
    assert (totals["draws"], totals["draw_entrants"], totals["draw_winners"]) == (2, 3, 2)


async def test_check_in_once_a_day_and_redeem_points_for_a_coupon(room: Room) -> None:
    host = await room("host", "host")
    cora = await room("cora")
    await cora.send({"type": "rewards_me", "ref": "me"})
    me = await cora.recv_type("rewards_self")
    assert (me["balance"], me["checked_in"], me["streak"]) == (0, False, 0)
    await cora.send({"type": "checkin", "ref": "c"})
    done = await cora.recv_type("checkin_done")
    assert (done["streak"], done["points"], done["balance"]) == (1, RULES.checkin, RULES.checkin)
    await cora.send({"type": "checkin", "ref": "c2"})
    refused = await error(cora, "c2")
    assert (refused["code"], refused["params"]) == ("already_checked_in", {"streak": 1})
    await host.send({"type": "checkin", "ref": "h"})
    assert (await error(host, "h"))["code"] == "forbidden"

    await define_coupon(host.client, "perk", count=5, tiers=[])
    status, answer = await api(
        host.client,
        "PUT",
        "/api/points/rewards/tote",
        {"title": "Tote", "cost": RULES.checkin, "coupon": "perk"},
    )
    assert status == 200, answer
    status, answer = await api(
        host.client, "PUT", "/api/points/rewards/bad", {"title": "X", "cost": 0, "coupon": "perk"}
    )
    assert (status, answer["error"]["code"]) == (400, "invalid")
    await cora.send({"type": "points_redeem", "reward": "tote"})
    redeemed = await cora.recv_type("points_redeemed")
    assert redeemed["balance"] == 0 and redeemed["code"].startswith("SALON-")
    await cora.send({"type": "points_redeem", "reward": "tote", "ref": "r"})
    short = await error(cora, "r")
    assert (short["code"], short["params"]) == (
        "not_enough_points",
        {"cost": RULES.checkin, "balance": 0},
    )
    status, totals = await api(host.client, "GET", "/api/metrics/rewards")
    assert (totals["checkins"], totals["points_issued"], totals["points_redeemed"]) == (
        1,
        RULES.checkin,
        RULES.checkin,
    )


async def test_operators_bad_coupon_definitions_are_refused(room: Room) -> None:
    host = await room("host", "host")
    client = host.client
    for bad, code in (
        ({"value": "ten"}, "invalid"),
        ({"count": 0}, "invalid"),
        ({"tiers": ["gold"]}, "invalid"),
        ({"pattern": "AB##"}, "invalid"),
        ({"title": "\u202eevil"}, "invalid_field"),
        ({"colour": "red"}, "invalid"),
    ):
        body = {"title": "Offer", "value": "5.00", "count": 3, **bad}
        status, answer = await api(client, "PUT", "/api/coupons/c1", body)
        assert (status, answer["error"]["code"]) == (400, code), (bad, answer)
    status, answer = await api(client, "GET", "/api/coupons")
    assert answer == {"coupons": []}
    status, answer = await api(client, "GET", "/api/coupons/c1")
    assert (status, answer["error"]["code"]) == (404, "no_coupon")
    response = await client.get("/api/coupons")
    assert response.status == 401


async def test_attendance_earns_points_once_per_session(
    room: Room, redis: Redis, tmp_path: Path
) -> None:
    rules = DEFAULT_RULES_FILE.read_text().replace("attendance = 5", "attendance = 7")
    path = tmp_path / "tiers.toml"
    path.write_text(rules.replace("attendance_minutes = 10", "attendance_minutes = 0"))
    host = await room("host", "host", **{"tiers.rules_file": str(path)})
    for _ in range(2):
        cora = await room("cora")
        await cora.send({"type": "leave"})
        await cora.closed_with()
        await host.recv_type("presence")
    await eventually(
        lambda: api(host.client, "GET", "/api/members/cora/points"),
        until=lambda answer: answer[1]["balance"],
        timeout=5,
        what="cora's attendance points",
    )
    # A marker: a check-in after both leaves, so both attendance awards have been tried.
    cody = await room("cody")
    await cody.send({"type": "checkin"})
    await cody.recv_type("checkin_done")
    _status, points = await api(host.client, "GET", "/api/members/cora/points")
    assert points["balance"] == 7
    assert [e["reason"] for e in points["log"]] == ["attendance"]


async def test_a_drop_refused_for_want_of_redis_leaves_the_room_as_it_was(
    own_redis: Restartable,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """Regression: a drop whose records could not be written stayed "running" in the
    room, so every later drop was refused with ``drop_running`` although nobody had been
    offered anything."""
    server = await own_redis.up()

    async def seed() -> None:
        client = Redis.from_url(server.url)
        try:
            await ops.set_member(MemberStore(client), "host", "core", "Host")
            await ops.create_room(RoomStore(client), "vip", "VIP", "core")
        finally:
            await client.aclose()

    await seed()
    app = create_app(make_settings(server.url, **{"redis.timeout": 0.5}))
    client = await aiohttp_client(app)
    await define_coupon(client)
    host = Socket(await client.ws_connect("/ws"))
    assert (await host.join(token("host", role="host")))["type"] == "joined"
    await own_redis.down()
    await host.send({"type": "coupon_drop", "coupon": "spring", "ref": "down"})
    refused = await error(host, "down")
    assert (refused["code"], refused["params"]) == ("unavailable", {"case": "rewards"})
    await own_redis.up()  # an empty Redis on the same port
    await seed()
    await define_coupon(client)
    await host.send({"type": "coupon_drop", "coupon": "spring"})
    offer = await host.recv_type("coupon_drop")
    assert offer["coupon"] == "spring" and offer["remaining"] == 5
