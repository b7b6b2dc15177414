"""The dashboard's member-level panels (issue 14): a cohort with a known history imported
through ``salon import``, its figures read off the page in English and in Chinese, and the
score distribution and at-risk figures equal to what the REST reports say."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import SalonServer
from tests.browser.dashboard_page import open_dashboard

pytestmark = pytest.mark.browser

SEEN_MS = 15_000
DAY_MS = 86_400_000
ZONE = "Europe/Paris"
# A join month no other test uses: the cohort's row holds these three members only.
MONTH = "2024-02"
MEMBERS = "member_id,since\nbc-ann,2024-02-10\nbc-bob,2024-02-11\nbc-cai,2024-02-12\n"
HEADINGS = {
    "en-GB": ("Cohorts by join month", "Score distribution per tier", "At risk", "12 days"),
    "zh-CN": ("按加入月份的会员群组", "各等级的积分分布", "流失风险", "12 天"),
}


def events_csv(now: int) -> str:
    """ann: two orders 12 days apart, chatted 3 days ago; bob: one order 300 days ago;
    cai: chatted 4 days ago, never bought."""
    rows = [
        ("bc-1", "purchase", "bc-ann", now - 100 * DAY_MS, "bc-o1"),
        ("bc-2", "purchase", "bc-ann", now - 88 * DAY_MS, "bc-o2"),
        ("bc-3", "chat", "bc-ann", now - 3 * DAY_MS, ""),
        ("bc-4", "purchase", "bc-bob", now - 300 * DAY_MS, "bc-o3"),
        ("bc-5", "chat", "bc-cai", now - 4 * DAY_MS, ""),
    ]
    lines = ["id,kind,member_id,at,room_id,order_id,amount,currency"]
    for row_id, kind, member, at, order in rows:
        money = "40.00,EUR" if order else ","
        lines.append(f"{row_id},{kind},{member},{at},bc-room,{order},{money}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    with tempfile.TemporaryDirectory() as directory:
        members, events = Path(directory) / "members.csv", Path(directory) / "events.csv"
        members.write_text(MEMBERS)
        events.write_text(events_csv(int(time.time() * 1000)))
        salon_server.cli("import", "--members", str(members), "--events", str(events))


async def row_texts(page: Page, selector: str) -> list[str]:
    texts: list[str] = await page.locator(selector).locator("th, td").all_inner_texts()
    return texts


@pytest.mark.parametrize("locale", sorted(HEADINGS))
async def test_the_cohort_panels_show_the_imported_history(
    browser: Browser, salon_server: SalonServer, locale: str
) -> None:
    cohorts_title, scores_title, risk_title, twelve_days = HEADINGS[locale]
    async with open_dashboard(browser, salon_server, locale, ZONE) as (page, errors):
        panel = page.get_by_role("region", name=cohorts_title)
        await expect(panel).to_be_visible(timeout=SEEN_MS)
        row = panel.locator(f'tr[data-month="{MONTH}"]')
        # Joined, members, active in 30 days, potential -> buyer, bought twice, median
        # days from the first order to the second.
        percent = await page.evaluate(
            """(locale) => new Intl.NumberFormat(locale, { style: 'percent',
              minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(2 / 3)""",
            locale,
        )
        await expect(row.locator("th, td")).to_have_text(
            [MONTH, "3", f"{percent} (2)", f"{percent} (2)", "1", twelve_days]
        )

        # The other panels show what the reports say at the same moment.
        cohorts: dict[str, Any] = await salon_server.admin("GET", "/api/metrics/cohorts")
        risk: dict[str, Any] = await salon_server.admin("GET", "/api/metrics/at-risk")
        scores = page.get_by_role("region", name=scores_title)
        await expect(scores).to_be_visible()
        for tier, figures in cohorts["score_by_tier"].items():
            cells = scores.locator(f'tr[data-tier="{tier}"] td').first
            await expect(cells).to_have_text(str(figures["members"]))
        risk_panel = page.get_by_role("region", name=risk_title)
        await expect(risk_panel.locator('dd[data-fact="members"]')).to_have_text(
            str(risk["members"])
        )
        second = page.locator('#second-figures dd[data-fact="buyers"]')
        await expect(second).to_have_text(str(cohorts["second_purchase"]["buyers"]))
        await page.wait_for_function("() => window.Chart.getChart('scores-chart')")
        chart = await page.evaluate(
            """() => { const c = window.Chart.getChart('scores-chart');
              return c.data.datasets.map((d) => d.data.reduce((a, b) => a + b, 0)); }"""
        )
        assert chart == [
            cohorts["score_by_tier"][t]["members"]
            for t in ("core", "active", "potential", "silent")
        ]
        assert errors == []
