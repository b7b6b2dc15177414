"""A 1:1 consultation in real Chromium with fake cameras and microphones: a core member
asks from the room page, the advisor accepts on the host console, both pages go to the
private room, and each receives the other's video (decoded frames advancing) and audio.
A third member with a valid token for that room is refused; the end records the length.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.async_api import Browser, Page, expect
from redis.asyncio import Redis

from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import STREAM_KEY, decode
from tests.browser.conftest import OpenRoom, SalonServer, in_room, open_tab
from tests.browser.test_room import wait_for_media
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "cs-host"
CORA = "cs-cora"
CY = "cs-cy"
ACTIVE = "cs-ada"
ROOM = "cs-room"
NOTE = "Sizes for the <b>spring</b> coat, please"
SEEN_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Advisor")
    salon_server.member(CORA, "core", "Cora Core")
    salon_server.member(CY, "core", "Cy Core")
    salon_server.member(ACTIVE, "active", "Ada Active")
    salon_server.room(ROOM, "Spring Preview", "core,active")


async def frames_advance(page: Page, who: str) -> dict[str, Any]:
    """Decoded video and received audio on the page's `sub`, and more frames later."""
    first = await wait_for_media(page, who)
    later = await wait_for_media(page, who, frames=first["video"]["framesDecoded"] + 10)
    assert later["audio"]["packetsReceived"] > first["audio"]["packetsReceived"] > 0, later
    return later


async def test_a_consultation_with_video_and_audio_both_ways(
    open_room: OpenRoom, salon_server: SalonServer, redis_server: EmbeddedRedis
) -> None:
    host = await open_room(ROOM, HOST, role="host")
    cora = await open_room(ROOM, CORA)
    await in_room(host.page)
    await in_room(cora.page)

    # The member asks from the sheet the top bar's 💬 opens, with a note.
    await cora.page.get_by_role("button", name="Private consultation with an advisor").click()
    await expect(cora.page.locator("body")).to_have_attribute("data-sheet", "consult")
    await cora.page.get_by_label("A note for the advisor (optional)").fill(NOTE)
    await cora.page.get_by_role("button", name="Request a consultation").click()
    await expect(cora.page.locator(".consult-status")).to_have_text(re.compile("^Requested"))

    # The advisor sees it in the Consultations tab, the note as text, and accepts.
    await open_tab(host.page, "Consultations")
    requests = host.page.get_by_role("list", name="Consultation requests")
    item = requests.get_by_role("listitem").filter(has_text="Cora Core")
    await expect(item).to_contain_text(NOTE, timeout=SEEN_MS)
    assert await item.locator("b").count() == 0, "the note was rendered as markup"
    await item.get_by_role("button", name="Accept the consultation with Cora Core").click()
    await host.page.get_by_role("link", name="Open the consultation with Cora Core").click()
    await cora.page.get_by_role("link", name="Join the consultation").click(timeout=SEEN_MS)
    for page in (host.page, cora.page):
        await page.wait_for_url(re.compile(r"/rooms/consult-c[0-9a-f]+$"))
        await in_room(page, SEEN_MS)
    room_id = urlsplit(host.page.url).path.rsplit("/", 1)[1]
    assert urlsplit(cora.page.url).path.endswith(room_id)

    # Both on stage from the start: the advisor's page goes live, the member speaks.
    await expect(host.page.get_by_role("button", name="Stop live")).to_be_visible(timeout=SEEN_MS)
    await expect(cora.page.get_by_text("Your microphone is on.")).to_be_visible(timeout=SEEN_MS)
    member_sees = await frames_advance(cora.page, "Cora (the advisor's camera)")
    advisor_sees = await frames_advance(host.page, "the advisor (Cora's camera)")
    assert member_sees["video"]["frameWidth"] > 0 and advisor_sees["video"]["frameWidth"] > 0

    # A third member with a valid token for this very room is refused.
    cy = await open_room(room_id, CY)
    await expect(cy.page.get_by_role("alert").filter(has_text="private")).to_have_text(
        "This is a private consultation: only its two people may enter.", timeout=SEEN_MS
    )

    # The member leaves: the consultation ends with its length recorded.
    await cora.page.get_by_role("button", name="Leave room").click()

    async def listed() -> dict[str, Any]:
        found: dict[str, Any] = (await salon_server.admin("GET", "/api/consultations"))[
            "consultations"
        ][0]
        return found

    record = await eventually(
        listed, until=lambda r: r["status"] == "ended", timeout=SEEN_MS, what="the end"
    )
    assert record["room_id"] == room_id and record["seconds"] > 1, record
    redis = Redis.from_url(redis_server.url)
    try:
        kinds = [
            event
            for _, fields in await redis.xrange(STREAM_KEY)
            if (event := decode(fields[b"e"])).kind.startswith("consultation_")
        ]
    finally:
        await redis.aclose()
    ended = [e for e in kinds if e.kind == "consultation_ended"]
    assert [e.data["seconds"] for e in ended] == [record["seconds"]]
    assert {e.kind.value for e in kinds} >= {"consultation_requested", "consultation_started"}


async def test_a_member_asks_from_the_hook_page(
    browser: Browser, salon_server: SalonServer
) -> None:
    """The RSVP page (/r/CODE) offers the same request; it names the session's room. A
    member of a tier consultations are not for reads why, in the page's language."""
    starts = int(time.time() * 1000) + 3_600_000
    session = {"room_id": ROOM, "title": "Spring Preview", "starts_at": starts}
    await salon_server.admin("PUT", "/api/sessions/cs-spring", session)
    link = await salon_server.admin("POST", "/api/sessions/cs-spring/links", {"channel": "wecom"})
    for member, locale in ((CY, "en-US"), (ACTIVE, "zh-CN")):
        tok = await salon_server.token(member, ROOM)
        context = await browser.new_context(locale=locale)
        try:
            page = await context.new_page()
            await page.goto(f"{salon_server.base_url}/r/{link['code']}?token={quote(tok, safe='')}")
            box = page.locator("#hook-consult")
            await expect(box).to_be_visible(timeout=SEEN_MS)
            await box.locator("textarea").fill("Gift ideas")
            await box.locator("button.primary").click()
            status = box.locator(".consult-status")
            if member == CY:
                await expect(status).to_have_text(re.compile("^Requested"))
            else:
                await expect(status).to_have_text("私人咨询仅限核心会员。")
        finally:
            await context.close()
    listed = (await salon_server.admin("GET", "/api/consultations"))["consultations"]
    mine = [c for c in listed if c["member_id"] == CY]
    assert [(c["origin_room"], c["note"], c["status"]) for c in mine] == [
        (ROOM, "Gift ideas", "pending")
    ]
    assert not [c for c in listed if c["member_id"] == ACTIVE]
