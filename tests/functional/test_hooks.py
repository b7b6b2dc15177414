"""Scheduled sessions and hook links: a scripted journey (visits, registrations, RSVPs,
joins, purchases over two links in two channels) yields exactly its counts in the
funnel, per link and per channel; the start is announced with the RSVP list; bad input
is refused with a code and changes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import create_app
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import STREAM_KEY
from server.engagement.funnel_hooks import CURSOR
from server.rooms.store import RoomStore
from tests.functional.conftest import ADMIN_KEY, Socket, make_settings, token
from tests.functional.webhook_receiver import receiver
from tests.support.waiting import eventually

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SECRET = "whsec_test_0123456789abcdef"
Client = TestClient[Any, Any]


async def _start(
    aiohttp_client: Callable[..., Awaitable[Client]], redis_server: EmbeddedRedis, redis: Redis
) -> Client:
    await ops.create_room(RoomStore(redis), "launch", "Launch", "core,active,potential", 50)
    settings = make_settings(
        redis_server.url, **{"webhooks.schedule_interval": 0.1, "webhooks.backoff_min": 0.05}
    )
    return await aiohttp_client(create_app(settings))


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _schedule(client: Client, starts_ms: int, **extra: Any) -> dict[str, Any]:
    body = {"room_id": "launch", "title": "Spring launch", "starts_at": starts_ms, **extra}
    return await _ok(await client.put("/api/sessions/spring", json=body, headers=AUTH))


async def _link(client: Client, channel: str, registration: bool) -> str:
    body = {"channel": channel, "registration": registration}
    made = await _ok(await client.post("/api/sessions/spring/links", json=body, headers=AUTH), 201)
    return str(made["code"])


async def _caught_up(
    client: Client, redis: Redis, marker_id: str = "marker-1", timeout: float = 10
) -> None:
    """Send a marker event through /api/events, then wait until the funnel feed has read
    past it: everything recorded before it is counted by then."""
    marker = {"events": [{"kind": "share", "member_id": "marker", "id": marker_id}]}
    await _ok(await client.post("/api/events", json=marker, headers=AUTH), 202)

    async def read_past() -> bool:
        entries = await redis.xrange(STREAM_KEY)
        ids = [e for e, f in entries if marker_id.encode() in f[b"e"]]
        done = await redis.get(CURSOR)
        return bool(
            ids
            and done is not None
            and tuple(map(int, done.split(b"-"))) >= tuple(map(int, ids[0].split(b"-")))
        )

    await eventually(read_past, what="the funnel feed past the marker", timeout=timeout)


async def test_a_scripted_journey_yields_exactly_its_counts_per_link_and_channel(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    redis = seeded
    client = await _start(aiohttp_client, redis_server, redis)
    await _schedule(client, int(time.time() * 1000) + 3_600_000)
    live, group = (
        await _link(client, "public-live", True),
        await _link(client, "wecom-group", False),
    )

    # public-live: 5 visits, 3 registrations, 3 RSVPs, 2 joins, 1 purchase.
    for n in range(5):
        await _ok(await client.post(f"/api/hooks/{live}/visit", json={"visitor": f"v-{n}"}))
    registered = []
    for name in ("Lin", "Mei", "Jun"):
        made = await _ok(await client.post(f"/api/hooks/{live}/register", json={"name": name}), 201)
        registered.append(made)
        await _ok(await client.post(f"/api/hooks/{live}/rsvp", json={"token": made["token"]}))
    # An RSVP sent twice counts once.
    again = await client.post(f"/api/hooks/{live}/rsvp", json={"token": registered[0]["token"]})
    assert (await _ok(again))["new"] is False

    # wecom-group: 4 visits (3 members, 1 anonymous), 2 RSVPs, 1 join, 1 purchase.
    members = {m: token(m, room="launch") for m in ("cora", "ada", "cody")}
    for tok in members.values():
        await _ok(await client.post(f"/api/hooks/{group}/visit", json={"token": tok}))
    await _ok(await client.post(f"/api/hooks/{group}/visit", json={"visitor": "v-x"}))
    for m in ("cora", "ada"):
        await _ok(await client.post(f"/api/hooks/{group}/rsvp", json={"token": members[m]}))

    # Joins: two registrants and cora; cody (visited, no RSVP) joins too and counts nowhere.
    sockets = []
    for tok in [registered[0]["token"], registered[1]["token"], members["cora"], members["cody"]]:
        ws = Socket(await client.ws_connect("/ws"))
        joined = await ws.join(tok, room="launch")
        assert joined["type"] == "joined", joined
        sockets.append(ws)
    purchases = [
        (registered[0]["member_id"], "launch"),
        ("cora", "launch"),
        ("cody", "launch"),  # not brought by a link
        ("ada", ""),  # not attributed to a room
    ]
    events = [
        {
            "kind": "purchase",
            "member_id": m,
            "room_id": r,
            "order_id": f"O-{i}",
            "amount": "10.00",
            "currency": "EUR",
        }
        for i, (m, r) in enumerate(purchases)
    ]
    await _ok(await client.post("/api/events", json={"events": events}, headers=AUTH), 202)
    await _caught_up(client, redis)

    funnel = await _ok(await client.get("/api/metrics/hooks", headers=AUTH))
    steps = ("visits", "registrations", "rsvps", "joined", "bought")
    by_link = {f["code"]: tuple(f[s] for s in steps) for f in funnel["links"]}
    assert by_link == {live: (5, 3, 3, 2, 1), group: (4, 0, 2, 1, 1)}
    by_channel = {f["channel"]: tuple(f[s] for s in steps) for f in funnel["channels"]}
    assert by_channel == {"public-live": (5, 3, 3, 2, 1), "wecom-group": (4, 0, 2, 1, 1)}
    # Registrants are auto members from `potential`: the one who bought moved up.
    tiers = [
        (await _ok(await client.get(f"/api/members/{r['member_id']}", headers=AUTH)))["tier"]
        for r in registered
    ]
    assert tiers == ["active", "potential", "potential"]
    for ws in sockets:
        await ws.ws.close()


async def test_an_idle_funnel_feed_reads_a_new_event_at_once(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    """The feed's read blocks until an entry comes (issue 11, branch idle): a feed that
    only woke when its block ran out (5 s) or that stopped reading would miss this."""
    client = await _start(aiohttp_client, redis_server, seeded)
    await _caught_up(client, seeded)
    await asyncio.sleep(0.5)  # past the pause after a batch: the feed is blocked again
    await _caught_up(client, seeded, "marker-2", timeout=2.0)


async def test_the_start_is_announced_with_the_rsvp_list(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    async with receiver(SECRET) as rec:
        client = await _start(aiohttp_client, redis_server, seeded)
        hook = {"url": rec.url, "kinds": ["rsvp.created", "session.started"], "secret": SECRET}
        await _ok(await client.post("/api/webhooks", json=hook, headers=AUTH), 201)
        starts = int(time.time() * 1000) + 1500
        await _schedule(client, datetime.fromtimestamp(starts / 1000, UTC).isoformat())
        code = await _link(client, "wecom-group", False)
        for m in ("cora", "ada"):
            tok = token(m, room="launch")
            await _ok(await client.post(f"/api/hooks/{code}/rsvp", json={"token": tok}))
        view = await _ok(await client.get(f"/api/hooks/{code}"))
        assert view["state"] == "upcoming" and view["rsvps"] == 2

        await rec.wait_accepted(3)
        kinds = [s.kind for s in rec.accepted]
        assert kinds == ["rsvp.created", "rsvp.created", "session.started"]
        started = rec.accepted[2].body["data"]
        assert [r["member_id"] for r in started["rsvps"]] == ["ada", "cora"]
        assert all(r["link"] == code for r in started["rsvps"])
        assert time.time() * 1000 >= starts
        assert (await _ok(await client.get(f"/api/hooks/{code}")))["state"] == "live"


async def test_bad_input_is_refused_with_a_code_and_changes_nothing(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    client = await _start(aiohttp_client, redis_server, seeded)
    now = int(time.time() * 1000)
    for body, code in [
        ({"room_id": "launch", "title": "x", "starts_at": "tomorrow"}, "bad_time"),
        ({"room_id": "launch", "title": "x", "starts_at": "2030-01-01T10:00"}, "bad_time"),
        ({"room_id": "nope", "title": "x", "starts_at": now}, "not_found"),
        ({"room_id": "launch", "title": "a\u202eb", "starts_at": now}, "text"),
        (
            {"room_id": "launch", "title": "x", "starts_at": now, "cover_url": "javascript:x"},
            "bad_url",
        ),
        ({"room_id": "launch", "title": "x", "starts_at": now, "capacity": 0}, "bad_number"),
    ]:
        response = await client.put("/api/sessions/spring", json=body, headers=AUTH)
        assert (await response.json())["error"]["code"] == code, body
        assert response.status in (400, 404)
    assert (await _ok(await client.get("/api/sessions", headers=AUTH)))["sessions"] == []

    await _schedule(client, now + 3_600_000, tiers="core", capacity=1)
    closed = await _link(client, "wecom-group", False)
    response = await client.post(f"/api/hooks/{closed}/register", json={"name": "Eve"})
    assert (await response.json())["error"]["code"] == "registration_closed"
    response = await client.post(f"/api/hooks/{closed}/rsvp", json={"token": "garbage"})
    assert (await response.json())["error"]["code"] == "bad_token"
    response = await client.post(
        f"/api/hooks/{closed}/rsvp", json={"token": token("ada", room="launch")}
    )
    assert response.status == 403 and (await response.json())["error"]["code"] == "tier_too_low"
    await _ok(
        await client.post(f"/api/hooks/{closed}/rsvp", json={"token": token("cora", room="launch")})
    )
    response = await client.post(
        f"/api/hooks/{closed}/rsvp", json={"token": token("cody", room="launch")}
    )
    assert response.status == 409 and (await response.json())["error"]["code"] == "full"
    session = await _ok(await client.get("/api/sessions/spring", headers=AUTH))
    assert list(session["rsvps"]) == ["cora"]
    response = await client.get("/api/hooks/nope-code")
    assert response.status == 404


async def _coupon(client: Client, coupon_id: str, count: int) -> None:
    body = {"title": "Spring gift", "value": "10.00", "count": count, "tiers": "core,active"}
    await _ok(await client.put(f"/api/coupons/{coupon_id}", json=body, headers=AUTH))


async def _claimed(client: Client, coupon_id: str) -> int:
    figures = await _ok(await client.get(f"/api/coupons/{coupon_id}", headers=AUTH))
    return int(figures["claimed"])


async def test_a_link_carrying_a_coupon_gives_each_member_one_code_on_rsvp(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    client = await _start(aiohttp_client, redis_server, seeded)
    await _schedule(client, int(time.time() * 1000) + 3_600_000)
    await _coupon(client, "gift", count=1)

    # An unknown coupon is refused and makes no link.
    body = {"channel": "public-live", "coupon": "nope", "code": "with-nope"}
    response = await client.post("/api/sessions/spring/links", json=body, headers=AUTH)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    assert (await _ok(await client.get("/api/hooks", headers=AUTH)))["links"] == []
    assert (await client.get("/api/hooks/with-nope")).status == 404

    body = {"channel": "public-live", "coupon": "gift", "code": "with-gift"}
    made = await _ok(await client.post("/api/sessions/spring/links", json=body, headers=AUTH), 201)
    assert made["coupon"] == "gift"
    # The public view names the coupon by its title, and no code.
    view = await _ok(await client.get("/api/hooks/with-gift"))
    assert view["coupon"] == {"title": "Spring gift"}

    cora = token("cora", room="launch")
    first = await _ok(await client.post("/api/hooks/with-gift/rsvp", json={"token": cora}))
    assert first["new"] is True
    coupon = first["coupon"]
    assert coupon["id"] == "gift" and coupon["title"] == "Spring gift"
    assert coupon["value"] == "10.00" and isinstance(coupon["code"], str) and coupon["code"]
    assert "refused" not in coupon
    assert await _claimed(client, "gift") == 1
    # The same member again: the same answer, nothing more claimed.
    again = await _ok(await client.post("/api/hooks/with-gift/rsvp", json={"token": cora}))
    assert again["new"] is False and again["coupon"] == coupon
    assert await _claimed(client, "gift") == 1
    mine = await _ok(await client.get("/api/hooks/with-gift", params={"token": cora}))
    assert mine["member"]["coupon"] == coupon and mine["coupon"] == {"title": "Spring gift"}

    # Sold out: the RSVP still succeeds and says why there is no coupon.
    ada = token("ada", room="launch")
    late = await _ok(await client.post("/api/hooks/with-gift/rsvp", json={"token": ada}))
    assert late["rsvped"] is True and late["new"] is True
    assert late["coupon"]["code"] is None
    assert late["coupon"]["refused"]["code"] == "sold_out"
    assert late["coupon"]["refused"]["message"]
    assert await _claimed(client, "gift") == 1
    session = await _ok(await client.get("/api/sessions/spring", headers=AUTH))
    assert sorted(session["rsvps"]) == ["ada", "cora"]

    # A link without a coupon answers none.
    plain = await _link(client, "wecom-group", False)
    cody = token("cody", room="launch")
    answer = await _ok(await client.post(f"/api/hooks/{plain}/rsvp", json={"token": cody}))
    assert answer["coupon"] is None
    assert (await _ok(await client.get(f"/api/hooks/{plain}")))["coupon"] is None


async def test_rsvps_of_one_member_at_once_claim_one_coupon(
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_server: EmbeddedRedis,
    seeded: Redis,
) -> None:
    """Three RSVPs of one member sent together: one claim, the same code in every reply
    (without the pending marker the second claim would answer ``claim_limit``)."""
    client = await _start(aiohttp_client, redis_server, seeded)
    await _schedule(client, int(time.time() * 1000) + 3_600_000)
    await _coupon(client, "gift", count=5)
    body = {"channel": "public-live", "coupon": "gift", "code": "with-gift"}
    await _ok(await client.post("/api/sessions/spring/links", json=body, headers=AUTH), 201)
    cora = {"token": token("cora", room="launch")}
    replies = await asyncio.gather(
        *(client.post("/api/hooks/with-gift/rsvp", json=cora) for _ in range(3))
    )
    coupons = [(await _ok(r))["coupon"] for r in replies]
    assert coupons[0]["code"] and coupons == [coupons[0]] * 3
    assert await _claimed(client, "gift") == 1
