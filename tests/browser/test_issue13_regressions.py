"""Regression tests for the bugs of issue 13, each named after the bug it pins."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.conftest import (
    IN_THE_ROOM,
    OpenRoom,
    SalonServer,
    in_room,
    open_sheet,
    open_tab,
    person_action,
    pin_product,
)
from tests.browser.layout_checks import LAPTOP, PHONE

pytestmark = pytest.mark.browser

HOST = "rg-host"
ADA = "rg-ada"
BEN = "rg-ben"
SID = "rg-sid"
TIER_ROOM = "rg-tiers"
ROLE_ROOM = "rg-roles"
RELOAD_ROOM = "rg-reload"
REMOVE_ROOM = "rg-remove"
REFUSE_ROOM = "rg-refuse"
EMOJI_ROOM = "rg-emoji"
NEXT_STEP = "https://brand.example.com/membership"
SEEN_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(BEN, "active", "Ben Active")
    salon_server.member(SID, "silent", "Sid Silent")
    for room in (TIER_ROOM, ROLE_ROOM, RELOAD_ROOM, REMOVE_ROOM, EMOJI_ROOM):
        salon_server.room(room, f"Room {room}", "core,active")
    salon_server.cli(
        "rooms",
        "create",
        REFUSE_ROOM,
        "--title",
        "Spring preview",
        "--tiers",
        "core,active",
        "--refusal-link",
        NEXT_STEP,
    )


async def test_members_must_not_see_tiers(open_room: OpenRoom) -> None:
    """Issue 13: members saw every other member's tier badge. The page shows a tier only
    when the participant object carries one (the server sends tiers to hosts only)."""
    host = (await open_room(TIER_ROOM, HOST, role="host", **LAPTOP)).page
    ada = (await open_room(TIER_ROOM, ADA, **PHONE)).page
    await in_room(ada)
    await open_room(TIER_ROOM, BEN, **PHONE)
    await open_sheet(ada, "people")
    items = ada.get_by_role("list", name="In the room").get_by_role("listitem")
    await expect(items).to_have_count(3, timeout=SEEN_MS)
    carried = await ada.evaluate(
        "() => window.salon.participants.filter((p) => typeof p.tier === 'string' && p.tier).length"
    )
    assert carried == 0  # the server sends tiers to hosts and co-hosts only
    await expect(ada.locator("#people-list .tag-tier")).to_have_count(0)
    # The host console shows tiers, as sent.
    await open_tab(host, "People")
    host_items = host.get_by_role("list", name="In the room").get_by_role("listitem")
    await expect(host_items.filter(has_text="Ben Active").locator(".tag-tier")).to_have_text(
        "active"
    )


async def test_other_members_lists_follow_role_changes(open_room: OpenRoom) -> None:
    """Issue 13: after a change, other members' lists kept the old one. A co-host
    appointment shows in another member's list, with no reload."""
    host = (await open_room(ROLE_ROOM, HOST, role="host", **LAPTOP)).page
    ada = (await open_room(ROLE_ROOM, ADA, **LAPTOP)).page
    ben = (await open_room(ROLE_ROOM, BEN, **LAPTOP)).page
    for page in (ada, ben):
        await in_room(page)
    await open_sheet(ben, "people")
    ada_on_ben = (
        ben.get_by_role("list", name="In the room")
        .get_by_role("listitem")
        .filter(has_text="Ada Core")
    )
    await expect(ada_on_ben.locator(".tag-role")).to_have_text("Member", timeout=SEEN_MS)
    await open_tab(host, "People")
    await person_action(host, "Ada Core", "Make co-host")
    await expect(ada_on_ben.locator(".tag-role")).to_have_text("Co-host", timeout=SEEN_MS)


async def test_host_console_rebuilds_shop_activity_stats_questions_and_polls_after_a_reload(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    """Issue 13: after the host reloaded, shop activity said "No purchases in this session
    yet" while the product stats above it said "2 bought". The console now rebuilds from
    the server's session summary."""
    host_person = await open_room(RELOAD_ROOM, HOST, role="host", **LAPTOP)
    host = host_person.page
    ada = (await open_room(RELOAD_ROOM, ADA, **LAPTOP)).page
    await in_room(ada)
    await pin_product(host, "€49")
    await open_sheet(ada, "qa")
    await ada.get_by_label("Your question").fill("Navy, please?")
    await ada.get_by_role("button", name="Ask").click()
    await open_tab(host, "Polls")
    await host.get_by_label("Poll question").fill("Which colour?")
    await host.get_by_label("Option 1", exact=True).fill("Red")
    await host.get_by_label("Option 2", exact=True).fill("Navy")
    await host.get_by_role("button", name="Create poll").click()
    await expect(host.get_by_role("group", name="Poll: Which colour?")).to_be_visible()
    headers = {"Authorization": f"Bearer {salon_server.env['SALON_ADMIN_KEY']}"}
    async with aiohttp.ClientSession() as http:
        for n in (1, 2):
            order = {
                "order_id": f"rg-{n}",
                "member_id": ADA,
                "product_id": "tote-7",
                "amount": "49.00",
                "currency": "EUR",
            }
            async with http.post(
                f"{salon_server.base_url}/api/purchases", json=order, headers=headers
            ) as answer:
                assert answer.status == 201, await answer.text()
    await open_tab(host, "Activity")
    purchases = host.get_by_role("list", name="Purchases").get_by_role("listitem")
    await expect(purchases).to_have_count(2, timeout=SEEN_MS)

    await host.reload()
    await expect(host.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    await open_tab(host, "Activity")
    await expect(purchases).to_have_count(2)
    await expect(purchases.first).to_contain_text("Ada Core bought tote-7 · €49.00")
    await open_tab(host, "Products")
    await expect(host.get_by_text("0 clicks by 0 · 2 bought")).to_be_visible()
    strip = host.get_by_role("region", name="This session so far")
    await expect(strip.locator('[data-figure="purchases"] strong')).to_have_text("2")
    await expect(strip.locator('[data-figure="revenue"] strong')).to_have_text("€98.00")
    await expect(strip.locator('[data-figure="questions"] strong')).to_have_text("1")
    await open_tab(host, "Q&A")
    await expect(host.get_by_role("list", name="Questions")).to_contain_text("Navy, please?")
    await open_tab(host, "Polls")
    await expect(host.get_by_role("group", name="Poll: Which colour?")).to_be_visible()


async def test_a_removed_member_cannot_come_back_this_session(open_room: OpenRoom) -> None:
    """Issue 13: a removed (not banned) member reloaded and was straight back in the same
    session. Remove asks first; then neither a reload nor a fresh link lets them in."""
    host = (await open_room(REMOVE_ROOM, HOST, role="host", **LAPTOP)).page
    ben = (await open_room(REMOVE_ROOM, BEN, **PHONE)).page
    await in_room(ben)
    await open_tab(host, "People")
    # Cancelling the confirmation changes nothing.
    await host.get_by_role("button", name="Actions for Ben Active").click()
    await host.get_by_role("menuitem", name="Remove").click()
    dialog = host.get_by_role("dialog")
    await expect(dialog).to_contain_text("Remove Ben Active from the room?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(ben.get_by_role("status")).to_have_text(IN_THE_ROOM)

    await person_action(host, "Ben Active", "Remove", confirm=True)
    await expect(ben.get_by_role("heading", name="You were removed from the room")).to_be_visible(
        timeout=SEEN_MS
    )
    await ben.reload()
    await expect(ben.locator("#ended-message")).to_have_text(
        "You were removed from this room and cannot rejoin it until this session ends.",
        timeout=SEEN_MS,
    )
    fresh = (await open_room(REMOVE_ROOM, BEN, **PHONE)).page
    await expect(fresh.locator("#ended-message")).to_contain_text(
        "cannot rejoin it until this session ends", timeout=SEEN_MS
    )


async def test_the_refusal_page_reads_well_and_offers_a_next_step(open_room: OpenRoom) -> None:
    """Issue 13: the refusal read raw (quoted title, "core, active", "SALON Salon", a red
    "Disconnected" dot) with no next step. Now: the title as heading, a sentence, and the
    link the operator set for the room."""
    page = (await open_room(REFUSE_ROOM, SID, **PHONE)).page
    message = page.locator("#ended-message")
    await expect(message).to_have_text(
        "This room is for core and active members; you are a silent member.", timeout=SEEN_MS
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Spring preview")
    link = page.get_by_role("link", name="See where you can go next")
    await expect(link).to_have_attribute("href", NEXT_STEP)
    await expect(page.locator("#conn-status")).to_be_hidden()
    await expect(page.locator("#live-badge")).to_be_hidden()
    assert "Salon" not in (await page.get_by_role("banner").inner_text())


# Draws text on a canvas in a font family and reports its width and whether any
# pixel has colour (a missing glyph is a monochrome box).
GLYPH_JS = """([text, family]) => {
  const canvas = document.createElement('canvas');
  canvas.width = 96; canvas.height = 96;
  const ctx = canvas.getContext('2d');
  ctx.font = `48px ${family}`;
  ctx.fillStyle = '#000';
  ctx.textBaseline = 'top';
  ctx.fillText(text, 8, 8);
  const data = ctx.getImageData(0, 0, 96, 96).data;
  let colour = false;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (Math.abs(data[i] - data[i + 1]) > 24
        || Math.abs(data[i + 1] - data[i + 2]) > 24)) { colour = true; break; }
  }
  return { width: ctx.measureText(text).width, colour };
}"""


async def test_reaction_emoji_render_instead_of_empty_boxes(open_room: OpenRoom) -> None:
    """Issue 13: four of the six reaction buttons showed empty boxes (no emoji font on the
    machine). `make test` installs fonts-noto-color-emoji; every button's emoji draws with
    a width of its own, not the missing-glyph box's, and in colour."""
    page = (await open_room(EMOJI_ROOM, ADA, **PHONE)).page
    await in_room(page)
    # A code point no font draws, in the text font: the box a missing emoji would be.
    box = await page.evaluate(GLYPH_JS, ["\U0010fffd", "sans-serif"])
    buttons = page.locator("#dock .ix-reaction")
    await expect(buttons).to_have_count(6)
    for index in range(6):
        text = await buttons.nth(index).inner_text()
        family = await buttons.nth(index).evaluate("(b) => getComputedStyle(b).fontFamily")
        glyph = await page.evaluate(GLYPH_JS, [text, family])
        assert glyph["width"] > 0, (text, glyph)
        assert glyph["width"] != box["width"], (text, glyph, box)
        assert glyph["colour"], f"{text!r} drew no colour: a missing glyph?"
        rendered = await buttons.nth(index).evaluate("(b) => b.getBoundingClientRect().width")
        assert rendered > 0
