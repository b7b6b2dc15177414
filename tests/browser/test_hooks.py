"""A hook link in real Chromium: a visitor opens ``/r/CODE`` before the start, sees the
session in their own time zone, registers and RSVPs; at the start the page turns into
the live room's link and they join. The funnel counts each step once."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import IN_THE_ROOM, SalonServer, rest
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

ROOM = "h-launch"
# Long enough for Chromium to open the page, register and RSVP before the start.
LEAD_SECONDS = 15


async def funnel(salon_server: SalonServer) -> dict[str, Any]:
    status, body = await rest(salon_server, "GET", "/api/metrics/hooks", None)
    assert status == 200
    result: dict[str, Any] = body
    return result


async def test_rsvp_from_a_hook_link_then_join_at_the_start(
    browser: Browser, salon_server: SalonServer
) -> None:
    salon_server.room(ROOM, "Spring launch room", "potential,active,core")
    # Over REST (a CLI call costs seconds of start-up on a busy machine); the CLI has its
    # own test.
    starts = datetime.fromtimestamp(int(time.time()) + LEAD_SECONDS, UTC)
    session = {
        "room_id": ROOM,
        "title": "Spring launch",
        "starts_at": starts.isoformat(),
        "cover_url": "/static/nope.png",
    }
    assert (await rest(salon_server, "PUT", "/api/sessions/h-spring", session))[0] == 200
    link = {"channel": "public-live", "registration": True, "code": "h-live"}
    assert (await rest(salon_server, "POST", "/api/sessions/h-spring/links", link))[0] == 201

    context = await browser.new_context(locale="en-US", timezone_id="Asia/Shanghai")
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{salon_server.base_url}/r/h-live")
        await expect(page.get_by_role("heading", name="Spring launch")).to_be_visible()
        # The start in the visitor's zone (Shanghai, UTC+8), as Intl writes it.
        local = starts.astimezone(ZoneInfo("Asia/Shanghai"))
        clock = f"{local.hour % 12 or 12}:{local.minute:02d}"
        await expect(page.locator("#hook-time")).to_contain_text(clock)
        await expect(page.locator("#hook-time")).to_contain_text("GMT+8")
        await expect(page.get_by_role("status")).to_contain_text("Starts soon")

        await page.get_by_label("Your name").fill("Lin Browser")
        await page.get_by_role("button", name="Register and RSVP").click()
        await expect(page.get_by_text("You're on the list.")).to_be_visible()
        await expect(page.get_by_text("Signed in as Lin Browser")).to_be_visible()
        assert time.time() < starts.timestamp(), "the RSVP came after the start: raise LEAD"

        # At the start the page turns into the live room's link, without a reload.
        join = page.get_by_role("link", name="Join the live room")
        await expect(join).to_be_visible(timeout=LEAD_SECONDS * 1000 + 10_000)
        assert time.time() >= starts.timestamp()
        await join.click()
        await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM)
        assert errors == []
    finally:
        await context.close()

    async def figures_now() -> dict[str, Any]:
        links = {f["code"]: f for f in (await funnel(salon_server))["links"]}
        figures: dict[str, Any] = links.get("h-live", {})
        return figures

    def steps(figures: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(figures.get(k) for k in ("visits", "registrations", "rsvps", "joined"))

    figures = await eventually(
        figures_now,
        until=lambda figures: steps(figures) == (1, 1, 1, 1),
        interval=0.2,
        what="one visit, registration, RSVP and join on h-live",
    )
    assert steps(figures) == (1, 1, 1, 1)
    assert figures["channel"] == "public-live" and figures["bought"] == 0


async def test_the_hook_page_speaks_chinese_and_switches_to_english(
    browser: Browser, salon_server: SalonServer
) -> None:
    """A reader whose browser prefers Chinese gets the page in Chinese (state, places,
    form, the date); the language switch turns it into English."""
    salon_server.room("h-zh", "Chinese room", "potential,active,core")
    starts = datetime.fromtimestamp(int(time.time()) + 3600, UTC)
    session = {"room_id": "h-zh", "title": "春季新品", "starts_at": starts.isoformat()}
    assert (await rest(salon_server, "PUT", "/api/sessions/h-zh-s", session))[0] == 200
    link = {"channel": "wechat", "registration": True, "code": "h-zh-link"}
    assert (await rest(salon_server, "POST", "/api/sessions/h-zh-s/links", link))[0] == 201

    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{salon_server.base_url}/r/h-zh-link")
        await expect(page.get_by_role("heading", name="春季新品")).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await expect(page.get_by_role("status")).to_contain_text("即将开始")
        await expect(page.get_by_role("status")).to_contain_text("已预约 0 / 100 个名额")
        await expect(page.locator("#hook-time")).to_contain_text("年")
        assert await page.get_by_label("你的昵称").count() == 1
        await expect(page.get_by_role("button", name="注册并预约")).to_be_visible()

        await page.get_by_label("语言").select_option("en")
        await expect(page.get_by_role("status")).to_contain_text("Starts soon")
        await expect(page.get_by_role("status")).to_contain_text("0 of 100 places taken")
        await expect(page.get_by_role("button", name="Register and RSVP")).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == "en"
        assert errors == []
    finally:
        await context.close()


async def test_rsvp_through_a_coupon_link_shows_the_code_in_english_and_chinese(
    browser: Browser, salon_server: SalonServer
) -> None:
    """The page names the link's coupon by its title before the RSVP, shows the code the
    RSVP claimed after it (as text), and says it in Chinese after the switch."""
    salon_server.room("h-gift", "Gift room", "potential,active,core")
    starts = datetime.fromtimestamp(int(time.time()) + 3600, UTC)
    session = {"room_id": "h-gift", "title": "Gift session", "starts_at": starts.isoformat()}
    assert (await rest(salon_server, "PUT", "/api/sessions/h-gift-s", session))[0] == 200
    coupon = {"title": "Spring gift", "value": "10.00", "count": 5, "pattern": "HOOK-########"}
    assert (await rest(salon_server, "PUT", "/api/coupons/h-gift-c", coupon))[0] == 200
    link = {"channel": "live", "registration": True, "code": "h-gift-l", "coupon": "h-gift-c"}
    assert (await rest(salon_server, "POST", "/api/sessions/h-gift-s/links", link))[0] == 201

    context = await browser.new_context(locale="en-US", timezone_id="UTC")
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{salon_server.base_url}/r/h-gift-l")
        box = page.locator("#hook-coupon")
        await expect(box).to_have_text("RSVP through this link to get a coupon: Spring gift")
        await page.get_by_label("Your name").fill("Mei Coupon")
        await page.get_by_role("button", name="Register and RSVP").click()
        await expect(page.get_by_text("You're on the list.")).to_be_visible()
        shown = page.locator(".hook-coupon-code")
        await expect(shown).to_have_text(re.compile(r"^Your coupon: HOOK-[A-Z0-9]{8}$"))
        await expect(box).to_contain_text("Spring gift (10.00 off)")
        code = (await shown.text_content() or "").removeprefix("Your coupon: ")
        status, figures = await rest(salon_server, "GET", "/api/coupons/h-gift-c", None)
        assert status == 200 and figures["claimed"] == 1

        await page.get_by_label("Language").select_option("zh-CN")
        await expect(shown).to_have_text(f"你的优惠券：{code}")
        assert errors == []
    finally:
        await context.close()
