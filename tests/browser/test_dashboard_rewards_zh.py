"""The dashboard's rewards panel in the reader's language (issue 13, last gaps): the bug
was that its headings, labels and columns were English on a zh-CN dashboard, its counts,
money and times unformatted. A coupon is dropped and claimed in a live room and redeemed
by a purchase (REST), then the dashboard is read in zh-CN in Shanghai's time zone."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import OpenRoom, SalonServer, open_sheet, open_tab
from tests.browser.dashboard_page import open_dashboard

pytestmark = pytest.mark.browser

ROOM = "drz-room"
HOST = "drz-host"
CORA = "drz-cora"
COUPON = "drz-tote"
TITLE = "春季托特包"
ZONE = "Asia/Shanghai"
SEEN_MS = 15_000
# Every string the panel showed before it had catalogs: none may remain in zh-CN.
OLD_ENGLISH = [
    "Rewards", "Points issued", "Points redeemed", "Check-ins", "Coupons", "Coupons claimed",
    "Coupons redeemed", "Lucky draws", "Draw entrants", "Quizzes", "Quiz answers",
    "Right answers", "Coupon", "Drop", "Room", "Claims", "Redeemed", "Discount",
    "No coupons yet.", "Coupons per drop",
]  # fmt: skip
TOTALS_ZH = [
    "已发放积分", "已兑换积分", "签到次数", "优惠券数", "已领取的优惠券", "已核销的优惠券",
    "抽奖次数", "抽奖参与人次", "答题次数", "答题人次", "答对人次",
]  # fmt: skip
COLUMNS_ZH = ["优惠券", "发放", "直播间", "领取", "核销", "优惠金额", "发放时间"]


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(CORA, "core", "Cora Core")
    salon_server.room(ROOM, "Launch room", "core,active")
    salon_server.cli(
        "coupons", "set", COUPON, "--title", TITLE, "--value", "15.00",
        "--count", "10", "--tiers", "core",
    )  # fmt: skip


async def claim_and_redeem(open_room: OpenRoom, salon_server: SalonServer) -> None:
    """The host drops the coupon, Cora claims it, and a purchase redeems her code."""
    host = (await open_room(ROOM, HOST, role="host")).page
    await open_tab(host, "Rewards")
    cora = (await open_room(ROOM, CORA)).page
    await host.get_by_label("Coupon id", exact=True).fill(COUPON)
    await host.get_by_role("button", name="Drop coupon").click()
    await open_sheet(cora, "rewards")
    offer = cora.get_by_role("region", name="Exclusive offer")
    await offer.get_by_role("button", name="Claim coupon").click(timeout=SEEN_MS)
    await expect(offer).to_contain_text(re.compile(r"Your code: SALON-[A-Z0-9]{8}"))
    found = re.search(r"SALON-[A-Z0-9]{8}", await offer.inner_text())
    assert found is not None
    currency = (await salon_server.admin("GET", "/api/metrics"))["value"]["currency"]
    purchase = {
        "order_id": "drz-order-1", "member_id": CORA, "product_id": "tote-7",
        "amount": "129.00", "currency": currency, "coupon": found.group(0),
    }  # fmt: skip
    await salon_server.admin("POST", "/api/purchases", purchase)


async def test_the_dashboard_rewards_panel_reads_in_chinese(
    browser: Browser, open_room: OpenRoom, salon_server: SalonServer
) -> None:
    """Issue 13: the dashboard's rewards panel was English only on a zh-CN dashboard."""
    await claim_and_redeem(open_room, salon_server)
    figures = await salon_server.admin("GET", f"/api/coupons/{COUPON}")
    assert figures["redeemed"] == 1, figures
    drop = next(d for d in figures["drops"] if d.get("room") == ROOM)
    currency = (await salon_server.admin("GET", "/api/metrics"))["value"]["currency"]

    async with open_dashboard(browser, salon_server, "zh-CN", ZONE) as (page, errors):
        panel = page.get_by_role("region", name="奖励", exact=True)
        await expect(panel).to_be_visible(timeout=SEEN_MS)
        await expect(panel.get_by_role("heading", level=2)).to_have_text("奖励")
        await expect(panel.locator("dt")).to_have_text(TOTALS_ZH)
        table = panel.get_by_role("table", name="每次发放的优惠券", exact=True)
        await expect(table.get_by_role("columnheader")).to_have_text(COLUMNS_ZH)

        # The drop's row: counts, the discount in the rules' currency and the drop's
        # time in the reader's zone, all formatted for zh-CN.
        discount, dropped = await page.evaluate(
            """([currency, at, zone]) => [
              new Intl.NumberFormat('zh-CN', { style: 'currency', currency }).format(15),
              new Intl.DateTimeFormat('zh-CN',
                { dateStyle: 'short', timeStyle: 'short', timeZone: zone }).format(new Date(at)),
            ]""",
            [currency, drop["at"], ZONE],
        )
        row = table.locator("tbody tr").filter(has_text=ROOM)
        await expect(row.get_by_role("cell")).to_have_text(
            [TITLE, drop["id"], ROOM, "1", "1", discount, dropped]
        )
        text = await panel.inner_text()
        assert [word for word in OLD_ENGLISH if word in text] == [], text
        assert errors == []
