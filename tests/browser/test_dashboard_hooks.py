"""The dashboard's hook-link funnel of the last sessions (issue 16's funnel, shown by issue
13's dashboard): per scheduled session, what its links brought, in the reader's language
and time zone, on whole-number axes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import SalonServer
from tests.browser.dashboard_page import open_dashboard
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

ROOM = "dh-room"
ZONE = "Asia/Shanghai"
SEEN_MS = 15_000
NOW = datetime.now(UTC).replace(microsecond=0)
# Two sessions: the later one first on the dashboard, its two links summed.
EARLIER = ("dh-earlier", "Winter preview", NOW + timedelta(days=1), {"dh-e1": 2})
LATER = ("dh-later", "Spring launch", NOW + timedelta(days=3), {"dh-l1": 3, "dh-l2": 1})


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.room(ROOM, "Launch room", "potential,active,core")


async def test_the_dashboard_shows_the_hook_funnel_of_the_last_sessions(
    browser: Browser, salon_server: SalonServer
) -> None:
    for session_id, title, starts, visits in (EARLIER, LATER):
        session = {"room_id": ROOM, "title": title, "starts_at": starts.isoformat()}
        await salon_server.admin("PUT", f"/api/sessions/{session_id}", session)
        for code, count in visits.items():
            link = {"channel": "public-live", "registration": True, "code": code}
            await salon_server.admin("POST", f"/api/sessions/{session_id}/links", link)
            for n in range(count):
                body = {"visitor": f"v-{code}-{n}"}
                await salon_server.admin("POST", f"/api/hooks/{code}/visit", body)
    await salon_server.admin("POST", "/api/hooks/dh-l1/register", {"name": "Lin Hook"})

    # The funnel is kept from the event stream, in the background.
    def complete(funnel: dict[str, Any]) -> bool:
        counts = {link["code"]: link for link in funnel["links"]}
        return counts.get("dh-l1", {}).get("registrations") == 1 and all(
            counts.get(code, {}).get("visits") == n
            for _, _, _, visits in (EARLIER, LATER)
            for code, n in visits.items()
        )

    await eventually(
        lambda: salon_server.admin("GET", "/api/metrics/hooks"),
        until=complete,
        timeout=SEEN_MS / 1000,
        interval=0.25,
        what="every visit and the registration in the funnel",
    )

    async with open_dashboard(browser, salon_server, "zh-CN", ZONE) as (page, errors):
        panel = page.get_by_role("region", name="引流链接：最近几场的转化漏斗")
        await expect(panel).to_be_visible(timeout=SEEN_MS)
        rows = panel.get_by_role("table", name="每场引流漏斗").locator("tbody tr")
        await expect(rows).to_have_count(2)
        starts = await page.evaluate(
            """([isos, zone]) => isos.map((iso) => new Intl.DateTimeFormat('zh-CN',
              { dateStyle: 'short', timeStyle: 'short', timeZone: zone }).format(new Date(iso)))""",
            [[LATER[2].isoformat(), EARLIER[2].isoformat()], ZONE],
        )
        # Title, start (reader's zone), links, visits, registrations, RSVPs, joined,
        # bought, visit -> joined.
        await expect(rows.nth(0).get_by_role("cell")).to_have_text(
            ["Spring launch", starts[0], "2", "4", "1", "0", "0", "0", "0.0%"]
        )
        await expect(rows.nth(1).get_by_role("cell")).to_have_text(
            ["Winter preview", starts[1], "1", "2", "0", "0", "0", "0", "0.0%"]
        )
        await page.wait_for_function("() => window.Chart.getChart('hooks-chart')")
        chart = await page.evaluate(
            """() => { const c = window.Chart.getChart('hooks-chart');
              return { labels: c.data.labels, visits: c.data.datasets[0].data,
                       legend: c.data.datasets.map((d) => d.label),
                       ticks: c.scales.y.ticks.map((t) => t.value) }; }"""
        )
        assert chart["labels"] == ["Spring launch", "Winter preview"]
        assert chart["visits"] == [4, 2]
        assert chart["legend"] == ["访问", "注册", "预约", "进入直播间", "购买"]
        assert chart["ticks"] and all(float(v).is_integer() for v in chart["ticks"]), chart
        assert errors == []
