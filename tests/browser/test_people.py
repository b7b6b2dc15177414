"""The people list of a big room in real Chromium: a page at a time, a live count, search.

Seventy signaling members (plain WebSockets from the test) join a room whose host has the
page open: the host's page shows the count of everyone but only the first page of rows,
shows the rest on "Show more", finds anyone by name, and drops a member who leaves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from server import operations as ops
from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.members import MemberStore
from server.settings import load_settings
from tests.browser.conftest import IN_THE_ROOM, OpenRoom, SalonServer, open_tab

pytestmark = pytest.mark.browser

ROOM = "p-big"
HOST = "p-host"
FANS = 70
PAGE = 50  # signaling.people_page's default
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.room(ROOM, "Big Preview", "core,active", capacity=FANS + 10)


class Fans:
    """``FANS`` members, seeded straight into Redis (the CLI would take a minute)."""

    def __init__(self, server: SalonServer, http: aiohttp.ClientSession) -> None:
        self.server, self.http = server, http
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def join(self) -> None:
        auth = load_settings(env=self.server.env).auth
        for i in range(FANS):
            ws = await self.http.ws_connect(
                f"{self.server.base_url}/ws", protocols=("salon.v1.json",)
            )
            token = ops.make_token(auth, f"p-fan{i:02d}", ROOM, "member", 600)
            await ws.send_json({"type": "join", "token": token, "room": ROOM})
            assert json.loads((await ws.receive(timeout=10)).data)["type"] == "joined"
            self.sockets.append(ws)


@pytest.fixture
async def fans(salon_server: SalonServer, redis_server: EmbeddedRedis) -> AsyncIterator[Fans]:
    redis = Redis.from_url(redis_server.url)
    store = MemberStore(redis)
    for i in range(FANS):
        await ops.set_member(store, f"p-fan{i:02d}", "core", f"Fan {i:02d}")
    await redis.aclose()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        group = Fans(salon_server, http)
        yield group
        for ws in group.sockets:
            await ws.close()


async def test_a_big_rooms_people_list_is_paged_counted_and_searchable(
    open_room: OpenRoom, fans: Fans
) -> None:
    host = await open_room(ROOM, HOST, role="host")
    page = host.page
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    await fans.join()
    await open_tab(page, "People")  # the host console keeps people under a tab

    listing = page.get_by_role("list", name="In the room")
    rows = listing.get_by_role("listitem")
    await expect(page.get_by_text(f"{FANS + 1} people")).to_be_visible(timeout=TIMEOUT_MS)
    # The host and the newest page of members, newest first; the rest a click away.
    await expect(rows).to_have_count(1 + PAGE)
    await expect(rows.nth(1)).to_contain_text(f"Fan {FANS - 1:02d}")
    await expect(rows.filter(has_text="Fan 00")).to_have_count(0)
    await page.get_by_role("button", name="Show more").click()
    await expect(rows).to_have_count(1 + FANS)
    await expect(rows.last).to_contain_text("Fan 00")
    await expect(page.get_by_role("button", name="Show more")).to_be_hidden()

    # The host finds anyone by name (with the same actions as in the list).
    await page.get_by_role("searchbox", name="Find someone in the room").fill("fan 07")
    await page.get_by_role("button", name="Find").click()
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("Fan 07")
    await expect(results.first.get_by_role("button", name="Actions for Fan 07")).to_be_visible()

    # Someone leaves: the count follows and their row goes.
    await fans.sockets[FANS - 1].close()
    await expect(page.get_by_text(f"{FANS} people")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(rows.filter(has_text=f"Fan {FANS - 1:02d}")).to_have_count(0)
    await expect(rows).to_have_count(FANS)
