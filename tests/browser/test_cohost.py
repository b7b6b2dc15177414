"""A co-host's page: the Activity sheet (the session's figures, purchases, tier changes)
and exactly the moderation the server lets a co-host do (server/rooms/moderation.py for
chat and Q&A, server/rooms/stage.py's ALLOWED for people): delete chat, pin, answer and
dismiss questions, invite, remove and ban members; never act on the host, never appoint
a co-host. A member's page shows none of it."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.conftest import (
    OpenRoom,
    SalonServer,
    in_room,
    open_sheet,
    open_tab,
    person_action,
)
from tests.browser.layout_checks import LAPTOP, PHONE, box, outside_viewport, page_scrolls

pytestmark = pytest.mark.browser

HOST = "ch-host"
CLEO = "ch-cleo"
DAN = "ch-dan"
ROOM = "ch-room"
SEEN_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hugo Host")
    salon_server.member(CLEO, "core", "Cleo Core")
    salon_server.member(DAN, "active", "Dan Active")
    salon_server.room(ROOM, "Co-host room", "core,active")


async def buy(salon_server: SalonServer, order_id: str) -> None:
    headers = {"Authorization": f"Bearer {salon_server.env['SALON_ADMIN_KEY']}"}
    order = {
        "order_id": order_id,
        "member_id": DAN,
        "product_id": "tote-7",
        "amount": "49.00",
        "currency": "EUR",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{salon_server.base_url}/api/purchases", json=order, headers=headers) as answer,
    ):
        assert answer.status == 201, await answer.text()


async def test_a_cohost_gets_the_activity_sheet_and_only_what_the_server_allows(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    """Issue 13 (closing note of session 2): co-hosts did not get the Activity panel. A
    co-host on a phone opens it from the bottom bar, and her page offers the moderation a
    co-host has, no more."""
    host = (await open_room(ROOM, HOST, role="host", **LAPTOP)).page
    cleo = (await open_room(ROOM, CLEO, **PHONE)).page
    dan = (await open_room(ROOM, DAN, **PHONE)).page
    for page in (host, cleo, dan):
        await in_room(page)
    activity_button = '#dock [data-open-sheet="activity"]'
    await expect(cleo.locator(activity_button)).to_be_hidden()  # a member, so far

    await open_tab(host, "People")
    await person_action(host, "Cleo Core", "Make co-host")
    await expect(cleo.locator(activity_button)).to_be_visible(timeout=SEEN_MS)
    assert await outside_viewport(cleo, [activity_button]) == []
    # Her moderation tools do not cover the video: the product form starts folded.
    await expect(cleo.locator("#ix-product summary")).to_have_text("Pin a product")
    assert (await box(cleo, "#ix-product"))["height"] < 844 / 4

    # Dan chats and buys: the co-host's sheet has the purchase, the figures and the
    # tier-change list; the page does not scroll.
    await dan.get_by_role("textbox", name="Chat message").fill("Is the tote waterproof?")
    await dan.get_by_role("button", name="Send").click()
    await buy(salon_server, "ch-1")
    await open_sheet(cleo, "activity")
    sheet = cleo.locator("#ix-shop")
    await expect(sheet.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
    purchases = sheet.get_by_role("list", name="Purchases").get_by_role("listitem")
    await expect(purchases).to_have_text(["Dan Active bought tote-7 · €49.00"], timeout=SEEN_MS)
    figures = sheet.get_by_role("region", name="This session so far")
    await expect(figures.locator('[data-figure="purchases"] strong')).to_have_text("1")
    await expect(figures.locator('[data-figure="people"] strong')).to_have_text("3")
    await expect(sheet.get_by_role("region", name="Tier changes")).to_be_visible()
    assert await outside_viewport(cleo, ["#ix-shop", "#ix-shop .sheet-close"]) == []
    assert not await page_scrolls(cleo)
    await sheet.locator("[data-close-sheet]").tap()
    await expect(sheet).to_be_hidden()

    # Chat: the co-host deletes Dan's line; it goes from Dan's page too.
    await cleo.get_by_role("button", name="Delete message from Dan Active").tap()
    await expect(dan.get_by_role("log", name="Chat messages")).not_to_contain_text(
        "Is the tote waterproof?", timeout=SEEN_MS
    )
    # Q&A: pin, answer and dismiss, as the server allows a co-host.
    await open_sheet(dan, "qa")
    await dan.get_by_label("Your question").fill("Which sizes?")
    await dan.get_by_role("button", name="Ask").click()
    await open_sheet(cleo, "qa")
    question = cleo.locator("#ix-qa [data-id]").filter(has_text="Which sizes?")
    for action in ("Pin", "Mark answered", "Dismiss"):
        await expect(question.get_by_role("button", name=action, exact=True)).to_be_visible(
            timeout=SEEN_MS
        )
    await question.get_by_role("button", name="Dismiss", exact=True).tap()
    await expect(dan.locator("#ix-qa")).not_to_contain_text("Which sizes?", timeout=SEEN_MS)
    await dan.locator("#ix-qa [data-close-sheet]").tap()
    await cleo.locator("#ix-qa [data-close-sheet]").tap()

    # People: Dan's menu offers what stage.py allows a co-host on a member; the host has
    # no menu at all, and no one can be made co-host from here.
    await open_sheet(cleo, "people")
    await cleo.get_by_role("button", name="Actions for Dan Active").tap()
    items = cleo.get_by_role("menu", name="Actions for Dan Active").get_by_role("menuitem")
    await expect(items).to_have_text(["Invite to stage", "Remove", "Ban"])
    await expect(cleo.get_by_role("button", name="Actions for Hugo Host")).to_have_count(0)

    # Dan, a member, has none of it: no Activity button, no delete, no Q&A moderation.
    await dan.get_by_role("textbox", name="Chat message").fill("marker")
    await dan.get_by_role("button", name="Send").click()
    await expect(dan.get_by_role("log", name="Chat messages")).to_contain_text("marker")
    await expect(dan.locator(activity_button)).to_be_hidden()
    await expect(dan.get_by_role("button", name="Delete message from Dan Active")).to_have_count(0)
    await expect(dan.locator("#ix-qa").get_by_role("button", name="Dismiss")).to_have_count(0)
