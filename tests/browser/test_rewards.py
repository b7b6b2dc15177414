"""Rewards in real Chromium against ``salon serve``: claiming a coupon (and reading why
one cannot), answering a quiz, checking in, and the host running a lucky draw.

Coupons are defined as an operator would, with the ``salon coupons`` command; everything
else is done on the pages, and what is asserted is what people see there.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from server.engagement.reward_points import load_point_rules
from tests.browser.conftest import OpenRoom, SalonServer, open_sheet, open_tab

pytestmark = pytest.mark.browser

HOST = "rw-host"
CORA = "rw-cora"
ADA = "rw-ada"
SEEN_MS = 15_000
RULES = load_point_rules()


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(CORA, "core", "Cora Core")
    salon_server.member(ADA, "active", "Ada Active")
    for room in ("rw-offer", "rw-quiz", "rw-check", "rw-draw"):
        salon_server.room(room, f"Room {room}", "core,active")
    salon_server.cli(
        "coupons", "set", "rw-spring", "--title", "Spring <b>tote</b>", "--value", "15.00",
        "--count", "10", "--tiers", "core",
    )  # fmt: skip


def rewards(page: Page) -> Any:
    """The rewards section: a sheet on a member's page, a tab panel in the host console."""
    return page.locator("#rewards")


async def ready(page: Page) -> None:
    """The rewards are on screen: a member opens their sheet from the bottom bar (the
    host console's tab is opened by the test)."""
    await expect(page.locator("body")).to_have_attribute(
        "data-role", re.compile("^(host|member)$"), timeout=SEEN_MS
    )
    if await page.evaluate("document.body.dataset.role") == "member":
        await open_sheet(page, "rewards")
    await expect(rewards(page).get_by_role("heading", name="Rewards", exact=True)).to_be_visible(
        timeout=SEEN_MS
    )


async def test_member_claims_a_dropped_coupon_and_another_reads_why_not(
    open_room: OpenRoom,
) -> None:
    host = (await open_room("rw-offer", HOST, role="host")).page
    await open_tab(host, "Rewards")  # the host console keeps rewards under a tab
    cora = (await open_room("rw-offer", CORA)).page
    ada = (await open_room("rw-offer", ADA)).page
    for page in (host, cora, ada):
        await ready(page)
    await host.get_by_label("Coupon id", exact=True).fill("rw-spring")
    await host.get_by_role("button", name="Drop coupon").click()

    offer = cora.get_by_role("region", name="Exclusive offer")
    await expect(offer).to_contain_text("Spring <b>tote</b>", timeout=SEEN_MS)
    await expect(offer).to_contain_text("15.00 off")
    assert await cora.locator(".rw-offer b").count() == 0, "markup was rendered"
    await offer.get_by_role("button", name="Claim coupon").click()
    await expect(offer).to_contain_text(re.compile(r"Your code: SALON-[A-Z0-9]{8}"))
    await expect(offer).to_contain_text("9 left")

    not_for_ada = ada.get_by_role("region", name="Exclusive offer")
    await expect(not_for_ada.get_by_role("note")).to_have_text(
        "This offer is for core members; your membership tier is active.", timeout=SEEN_MS
    )
    await expect(not_for_ada.get_by_role("button", name="Claim coupon")).to_have_count(0)


async def test_member_answers_a_quiz_and_sees_the_results_with_everyone(
    open_room: OpenRoom,
) -> None:
    host = (await open_room("rw-quiz", HOST, role="host")).page
    await open_tab(host, "Rewards")  # the host console keeps rewards under a tab
    cora = (await open_room("rw-quiz", CORA)).page
    for page in (host, cora):
        await ready(page)
    await host.get_by_label("Quiz question").fill("Which fabric is the tote?")
    await host.get_by_label("Answer 1", exact=True).fill("Canvas")
    await host.get_by_label("Answer 2", exact=True).fill("Leather")
    await host.get_by_label("Right answer").select_option("1")
    await host.get_by_label("Seconds", exact=True).fill("5")
    await host.get_by_label("Points to share").fill("50")
    await host.get_by_role("button", name="Ask quiz").click()

    quiz = cora.get_by_role("region", name="Quiz")
    await expect(quiz).to_contain_text("Which fabric is the tote?", timeout=SEEN_MS)
    await expect(quiz).to_contain_text(re.compile(r"\d+ s left"))
    await quiz.get_by_role("button", name="Leather").click()
    await expect(quiz).to_contain_text("Answer sent")
    await expect(quiz).to_contain_text("1 answered, 1 right", timeout=SEEN_MS)
    await expect(quiz).to_contain_text("You were right: +50 points")
    await expect(quiz.locator(".rw-right")).to_contain_text("Leather")
    on_host = host.get_by_role("region", name="Quiz")
    await expect(on_host).to_contain_text("1 answered, 1 right", timeout=SEEN_MS)
    points = rewards(cora).get_by_role("region", name="Your points")
    await expect(points).to_contain_text(f"{50 + RULES.quiz_answer} points", timeout=SEEN_MS)


async def test_member_checks_in_once_a_day(open_room: OpenRoom) -> None:
    cora = (await open_room("rw-check", CORA)).page
    await ready(cora)
    points = rewards(cora).get_by_role("region", name="Your points")
    await expect(points).to_contain_text("No check-in streak yet")
    # The page asked for the member's balance as it joined (earlier tests earned some).
    balance = points.locator(".rw-balance")
    await expect(balance).to_have_text(re.compile(r"^\d+ points$"))
    before = int((await balance.inner_text()).split()[0])
    await points.get_by_role("button", name="Check in").click()
    done = points.get_by_role("button", name="Checked in today")
    await expect(done).to_be_disabled(timeout=SEEN_MS)
    await expect(points).to_contain_text("Check-in streak: 1 day")
    await expect(balance).to_have_text(f"{before + RULES.checkin} points")
    # A new page for the same member still shows today's check-in (it lives in Redis).
    again = (await open_room("rw-check", CORA)).page
    await ready(again)
    await expect(rewards(again).get_by_role("button", name="Checked in today")).to_be_disabled(
        timeout=SEEN_MS
    )


async def test_host_runs_a_lucky_draw_and_the_winner_is_told(open_room: OpenRoom) -> None:
    host = (await open_room("rw-draw", HOST, role="host")).page
    await open_tab(host, "Rewards")  # the host console keeps rewards under a tab
    cora = (await open_room("rw-draw", CORA)).page
    for page in (host, cora):
        await ready(page)
    await host.get_by_label("Who may win").select_option("present")
    await host.get_by_label("Winners", exact=True).fill("1")
    await host.get_by_label("Prize coupon id (optional)").fill("rw-spring")
    await host.get_by_label("Prize note").fill("A signed tote")
    await host.get_by_role("button", name="Run draw").click()

    on_host = host.get_by_role("region", name="Lucky draw")
    await expect(on_host).to_contain_text("Winners: Cora Core (among 1)", timeout=SEEN_MS)
    mine = cora.get_by_role("region", name="Lucky draw")
    await expect(mine).to_contain_text("A signed tote", timeout=SEEN_MS)
    await expect(mine).to_contain_text(re.compile(r"You won the lucky draw! Your code: SALON-"))


async def test_the_dashboard_shows_coupons_per_drop_and_points(
    browser: Browser, salon_server: SalonServer
) -> None:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(f"{salon_server.base_url}/dashboard")
        await page.get_by_label("Admin key").fill(salon_server.env["SALON_ADMIN_KEY"])
        await page.get_by_role("button", name="Show").click()
        panel = page.get_by_role("region", name="Rewards")
        await expect(panel).to_contain_text("Coupons claimed", timeout=SEEN_MS)
        per_drop = panel.get_by_role("table", name="Coupons per drop")
        # The drop of the first test, in its room, with its one claim.
        row = per_drop.get_by_role("row").filter(has_text="rw-offer")
        await expect(row).to_contain_text("Spring <b>tote</b>")
        await expect(row.get_by_role("cell").nth(3)).to_have_text("1")
        assert await panel.locator("b").count() == 0, "markup was rendered"
    finally:
        await context.close()
