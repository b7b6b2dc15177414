"""The member's page on a phone beyond the portrait basics of test_pages.py: rewards as a
sheet from the bottom bar, and the phone held sideways (844x390, and 932x430 like an iPhone
Pro Max, wider than a laptop's breakpoint but as short as any phone).

Layout assertions are bounding boxes against the viewport (layout_checks.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    IN_THE_ROOM,
    OpenRoom,
    SalonServer,
    open_sheet,
    open_tab,
    pin_product,
)
from tests.browser.layout_checks import (
    LAPTOP,
    PHONE,
    box,
    covered,
    outside_viewport,
    overflowing,
    overlapping,
    page_scrolls,
)
from tests.browser.room_checks import MEMBER_CONTROLS, PRODUCT_CONTROLS, chat_and_react

pytestmark = pytest.mark.browser

HOST = "ph-host"
CORA = "ph-cora"
ADA = "ph-ada"
REWARDS_ROOM = "ph-rewards"
SIDEWAYS_ROOM = "ph-sideways"
WIDE_SIDEWAYS_ROOM = "ph-sideways-wide"
COUPON = "ph-spring"
SEEN_MS = 15_000
# The bottom bar's buttons: raise hand, the product, and the sheets'.
DOCK_BUTTONS = [
    "#dock .hand-btn",
    "#dock .dock-buttons > .dock-btn:first-child",
    *[f'#dock [data-open-sheet="{sheet}"]' for sheet in ("qa", "poll", "rewards")],
]
# The video's own controls, and what floats over the video: the two must never meet.
VIDEO_CONTROLS = ["#sound-btn", "#leave-btn", "#live-badge", "#people-btn", "#lang-select"]
OVER_THE_VIDEO = ["#ix-product", "#ix-chat", "#dock", ".slots"]
SHEETS = {"qa": "#ix-qa", "poll": "#ix-polls", "people": "#people", "rewards": "#rewards"}
# Phones held sideways: (room, width, height).
SIDEWAYS = [(SIDEWAYS_ROOM, 844, 390), (WIDE_SIDEWAYS_ROOM, 932, 430)]


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(CORA, "core", "Cora Core")
    salon_server.member(ADA, "core", "Ada Core")
    for room in (REWARDS_ROOM, SIDEWAYS_ROOM, WIDE_SIDEWAYS_ROOM):
        salon_server.room(room, f"Room {room}", "core,active")
    salon_server.cli(
        "coupons", "set", COUPON, "--title", "Spring tote", "--value", "15.00",
        "--count", "10", "--tiers", "core",
    )  # fmt: skip


async def drop_coupon(host: Page) -> None:
    await open_tab(host, "Rewards")
    await host.get_by_label("Coupon id", exact=True).fill(COUPON)
    await host.get_by_role("button", name="Drop coupon").click()


async def test_rewards_open_as_a_sheet_from_the_bottom_bar(open_room: OpenRoom) -> None:
    """Issue 13 (closing note of session 2): on a phone the member's rewards card sat in
    the page flow. Rewards are now a sheet from the bottom bar, like Q&A and the poll: shut
    until opened, a new offer marks the button, and the sheet fits the screen."""
    host = (await open_room(REWARDS_ROOM, HOST, role="host", **LAPTOP)).page
    cora = (await open_room(REWARDS_ROOM, CORA, **PHONE)).page
    await expect(cora.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    rewards = cora.get_by_role("region", name="Rewards", exact=True)
    button = cora.locator('#dock [data-open-sheet="rewards"]')
    await expect(button).to_have_accessible_name("Rewards: points, offers and quizzes")
    await expect(rewards).to_be_hidden()
    assert await outside_viewport(cora, ['#dock [data-open-sheet="rewards"]']) == []
    assert not await page_scrolls(cora)

    # A coupon drop marks the button; the video stays uncovered.
    await drop_coupon(host)
    await expect(button).to_have_accessible_name("Rewards: something new", timeout=SEEN_MS)
    await expect(rewards).to_be_hidden()
    # With a product pinned too, the bar's buttons all fit, labels whole.
    await pin_product(host)
    await expect(cora.locator("#dock .dock-btn").first).to_be_visible(timeout=SEEN_MS)
    await expect(cora.locator("#ix-product .ix-product-card")).to_be_visible(timeout=SEEN_MS)
    assert await outside_viewport(cora, DOCK_BUTTONS) == []
    assert await overflowing(cora, "#dock .dock-btn, #dock .hand-btn") == []
    assert await overlapping(cora, VIDEO_CONTROLS, OVER_THE_VIDEO) == []

    await button.tap()
    await expect(cora.locator("body")).to_have_attribute("data-sheet", "rewards")
    await expect(rewards).to_be_visible()
    await expect(button).to_have_accessible_name("Rewards: points, offers and quizzes")
    await expect(button).to_have_attribute("aria-expanded", "true")
    offer = rewards.get_by_role("region", name="Exclusive offer")
    claim = offer.get_by_role("button", name="Claim coupon")
    await expect(claim).to_be_visible()
    on_screen = ["#rewards .sheet-close", "#rewards .rw-offer button"]
    assert await outside_viewport(cora, on_screen) == []
    assert not await page_scrolls(cora), "the rewards sheet made the page scroll"
    sheet = await box(cora, "#rewards")
    assert sheet["bottom"] >= 843 and sheet["top"] > 844 * 0.2, sheet  # a sheet from the bottom
    await claim.tap()
    await expect(offer).to_contain_text(re.compile(r"Your code: SALON-[A-Z0-9]{8}"))

    # Its close button shuts it.
    await cora.locator("#rewards [data-close-sheet]").tap()
    await expect(rewards).to_be_hidden()
    await expect(cora.locator("body")).not_to_have_attribute("data-sheet", re.compile(".+"))


@pytest.mark.parametrize(("room", "width", "height"), SIDEWAYS, ids=["844x390", "932x430"])
async def test_a_phone_held_sideways_keeps_video_bar_and_sheets_usable(
    open_room: OpenRoom, room: str, width: int, height: int
) -> None:
    """A phone held sideways (844x390, and 932x430: the bug was that a phone 900 px or more
    wide got the laptop layout): the video fills the screen; what a member needs is on
    screen with no scrolling; nothing covers the video's controls; chat and reactions
    work; each sheet opens inside the screen without covering the controls or the bar."""
    landscape: dict[str, Any] = {
        "viewport": {"width": width, "height": height},
        "is_mobile": True,
        "has_touch": True,
    }
    host = (await open_room(room, HOST, role="host", **LAPTOP)).page
    ada = (await open_room(room, ADA, **landscape)).page
    await expect(ada.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    await pin_product(host)
    await expect(ada.locator("#ix-product .ix-product-card")).to_be_visible(timeout=SEEN_MS)
    await chat_and_react(ada, host, "Hello from a sideways phone", tap=True)

    assert await outside_viewport(ada, MEMBER_CONTROLS + PRODUCT_CONTROLS + DOCK_BUTTONS) == []
    assert not await page_scrolls(ada), "the member page scrolls on a sideways phone"
    frame = await box(ada, ".video-frame")
    assert frame["width"] >= width - 1 and frame["height"] >= height - 1, frame
    assert await overlapping(ada, VIDEO_CONTROLS, OVER_THE_VIDEO) == []
    assert await overlapping(ada, ["#ix-product"], ["#ix-chat", "#dock"]) == []
    assert await overflowing(ada, "#dock .dock-btn, #dock .hand-btn") == []
    assert await covered(ada, VIDEO_CONTROLS + DOCK_BUTTONS) == []
    # The chat sits above the bottom bar, its newest line in view.
    chat, dock = await box(ada, "#ix-chat"), await box(ada, "#dock")
    assert chat["bottom"] <= dock["top"] + 1, (chat, dock)
    assert dock["height"] <= height * 0.35, dock

    for sheet, panel in SHEETS.items():
        await open_sheet(ada, sheet)
        await expect(ada.locator(panel)).to_be_visible()
        assert await outside_viewport(ada, [panel, f"{panel} .sheet-close"]) == [], sheet
        assert await overlapping(ada, [panel], [*VIDEO_CONTROLS, "#dock"]) == [], sheet
        # The bar stays in reach: another sheet's button, a reaction.
        assert await covered(ada, VIDEO_CONTROLS + DOCK_BUTTONS[1:]) == [], sheet
        assert not await page_scrolls(ada), sheet
        if sheet == "qa":
            assert await outside_viewport(ada, ["#ix-qa input[type=text]"]) == []
            await ada.get_by_role("textbox", name="Your question").fill("Sideways question?")
            await ada.get_by_role("button", name="Ask").click()
            await expect(ada.locator("#ix-qa")).to_contain_text("Sideways question?")
        await ada.locator(f"{panel} [data-close-sheet]").tap()
        await expect(ada.locator(panel)).to_be_hidden()
