"""The room page as people use it: on a phone (390x844, touch) and a laptop (1366x768),
member and host; in Chinese and English; the token out of the address bar.

Layout assertions are bounding boxes against the viewport: the controls a live session
needs are on screen without scrolling, and chat and reactions work there.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    IN_THE_ROOM,
    IN_THE_ROOM_ZH,
    OpenRoom,
    SalonServer,
    open_sheet,
    open_tab,
    pin_product,
)
from tests.browser.layout_checks import LAPTOP, PHONE, box, outside_viewport, page_scrolls
from tests.browser.room_checks import MEMBER_CONTROLS, PRODUCT_CONTROLS, chat_and_react

pytestmark = pytest.mark.browser

HOST = "pg-host"
ADA = "pg-ada"
BEN = "pg-ben"
PHONE_ROOM = "pg-phone"
LAPTOP_ROOM = "pg-laptop"
LANG_ROOM = "pg-lang"
SEEN_MS = 10_000

HOST_CONTROLS = [
    ".video-frame",
    "#live-btn",
    "#console-tabs",
    "#tab-qa",
    "#tab-polls",
    "#tab-products",
    "#tab-activity",
    "#strip",
    "#ix-chat .ix-chat-form input[type=text]",
    "#ix-chat .ix-chat-log",
    "#stage-console",
    "#hands-heading",
    "#lang-select",
]


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(BEN, "active", "Ben Active")
    for room in (PHONE_ROOM, LAPTOP_ROOM, LANG_ROOM):
        salon_server.room(room, f"Room {room}", "core,active")


async def test_member_on_a_phone_has_everything_on_screen(open_room: OpenRoom) -> None:
    host = (await open_room(PHONE_ROOM, HOST, role="host", **LAPTOP)).page
    member = (await open_room(PHONE_ROOM, ADA, **PHONE)).page
    await expect(member.get_by_role("status")).to_have_text(IN_THE_ROOM)
    await pin_product(host)
    await expect(member.locator("#ix-product .ix-product-card")).to_be_visible(timeout=SEEN_MS)

    assert await outside_viewport(member, MEMBER_CONTROLS + PRODUCT_CONTROLS) == []
    assert not await page_scrolls(member), "the member page scrolls on a phone"
    # The video fills the screen; the chat sits over its lower part, above the bottom bar.
    frame = await box(member, ".video-frame")
    assert frame["width"] >= 389 and frame["height"] >= 843, frame
    chat, dock = await box(member, "#ix-chat"), await box(member, "#dock")
    assert chat["bottom"] <= dock["top"] + 1 and chat["top"] > 844 / 2, (chat, dock)
    # The pinned product is a card over the video, with its price and a buy link.
    card = member.get_by_role("region", name="Featured product")
    await expect(card).to_contain_text("¥349")
    await expect(card.get_by_role("link", name="View product: Spring tote")).to_be_visible()

    await chat_and_react(member, host, "Hello from my phone", tap=True)

    # Q&A opens as a sheet that fits the screen, its field included.
    await open_sheet(member, "qa")
    assert await outside_viewport(member, ["#ix-qa", "#ix-qa input[type=text]"]) == []
    await member.get_by_role("textbox", name="Your question").fill("Does it come in navy?")
    await member.get_by_role("button", name="Ask").click()
    await open_tab(host, "Q&A")
    await expect(
        host.get_by_role("list", name="Questions").get_by_text("Does it come in navy?")
    ).to_be_visible(timeout=SEEN_MS)
    await member.locator("#ix-qa [data-close-sheet]").click()
    await expect(member.locator("#ix-qa")).to_be_hidden()


async def test_member_on_a_laptop_sees_video_with_chat_beside_it(open_room: OpenRoom) -> None:
    host = (await open_room(LAPTOP_ROOM, HOST, role="host", **LAPTOP)).page
    member = (await open_room(LAPTOP_ROOM, BEN, **LAPTOP)).page
    await expect(member.get_by_role("status")).to_have_text(IN_THE_ROOM)
    await pin_product(host)
    await expect(member.locator("#ix-product .ix-product-card")).to_be_visible(timeout=SEEN_MS)
    assert await outside_viewport(member, MEMBER_CONTROLS + PRODUCT_CONTROLS) == []
    assert not await page_scrolls(member)
    video, chat = await box(member, ".video-frame"), await box(member, "#ix-chat")
    assert video["right"] <= chat["left"] and video["width"] > chat["width"], (video, chat)
    await chat_and_react(member, host, "Hello from my laptop", tap=False)
    for sheet in ("qa", "poll", "people"):
        await open_sheet(member, sheet)
        panel = {"qa": "#ix-qa", "poll": "#ix-polls", "people": "#people"}[sheet]
        assert await outside_viewport(member, [panel]) == [], sheet


async def test_host_console_fits_a_laptop_screen(open_room: OpenRoom) -> None:
    host = (await open_room(LAPTOP_ROOM, HOST, role="host", **LAPTOP)).page
    await open_room(LAPTOP_ROOM, ADA, **PHONE)
    await open_tab(host, "People")
    await expect(
        host.get_by_role("list", name="In the room").get_by_text("Ada Core")
    ).to_be_visible(timeout=SEEN_MS)
    assert await outside_viewport(host, HOST_CONTROLS) == []
    assert not await page_scrolls(host), "the host console scrolls at 1366x768"
    # The people list is a tab; moderation is one menu per person, not a row of buttons.
    menu_button = host.get_by_role("button", name="Actions for Ada Core")
    await expect(menu_button).to_be_visible()
    assert await outside_viewport(host, [".person-menu-btn"]) == []
    await expect(host.locator("#people .person-actions > button")).to_have_count(1)
    for tab in ("Q&A", "Polls", "Products", "People", "Activity", "Rewards"):
        await open_tab(host, tab)
        assert not await page_scrolls(host), tab
    # The live strip counts the people in the room.
    await expect(host.locator('#strip [data-figure="people"] strong')).to_have_text("2")


async def language_of(page: Page) -> str:
    lang: str = await page.evaluate("document.documentElement.lang")
    return lang


async def test_language_follows_the_browser_and_the_switch(open_room: OpenRoom) -> None:
    person = await open_room(LANG_ROOM, ADA, locale="zh-CN", **PHONE)
    page = person.page
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM_ZH, timeout=SEEN_MS)
    assert await language_of(page) == "zh-CN"
    await expect(page.get_by_role("textbox", name="聊天消息")).to_have_attribute(
        "placeholder", "说点什么…"
    )
    await expect(page.get_by_role("button", name="发送爱心")).to_be_visible()
    # The switch changes the language now and remembers it.
    await page.get_by_role("combobox", name="语言").select_option("en")
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    assert await language_of(page) == "en"
    await expect(page.get_by_role("textbox", name="Chat message")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('salon.lang')") == "en"
    # Remembered over the browser's language: a new tab of the same browser stays English.
    tab = await person.context.new_page()
    await tab.goto(page.url.split("?")[0])
    await expect(tab.locator("html")).to_have_attribute("lang", "en")


async def test_the_token_leaves_the_address_bar(open_room: OpenRoom) -> None:
    """Issue 9's info item: the access token must not linger in the URL (history,
    bookmarks, a shared screen); the page keeps it for reloads in this tab only."""
    page = (await open_room(LANG_ROOM, BEN, **LAPTOP)).page
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    assert "token" not in page.url, page.url
    assert await page.evaluate("window.location.search") == ""
    await page.reload()
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    assert "token" not in page.url
    assert await page.evaluate("localStorage.length") == 0, "the token is not kept for good"


async def test_a_refusal_speaks_the_members_language(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    salon_server.member("pg-sid", "silent", "Sid Silent")
    page = (await open_room(LANG_ROOM, "pg-sid", locale="zh-CN", **PHONE)).page
    alert = page.locator("#ended-message")
    await expect(alert).to_have_text(
        "本直播间面向核心和活跃会员开放；你目前是沉默会员。", timeout=SEEN_MS
    )
    await expect(page.get_by_role("heading", level=2)).to_have_text("你暂时无法进入这个直播间")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Room {LANG_ROOM}")
