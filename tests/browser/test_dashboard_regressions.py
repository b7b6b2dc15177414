"""Regression tests for the dashboard's three bugs of issue 13, each named after its bug.

The module's server starts on a flushed Redis, so the figures are this module's alone and
small (two invitations, a handful of members): exactly where the bugs showed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import IN_THE_ROOM, OpenRoom, SalonServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

ROOM = "db-room"
HOST = "db-host"
ADA = "db-ada"
PIA = "db-pia"
NOBODY = "db-nobody"  # invited, never comes
ZONE = "Asia/Shanghai"  # UTC+8 all year: every time differs from its UTC reading
SEEN_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    # Pia comes in through `salon import`: a potential member, scored from now on.
    members: Path = tmp_path_factory.mktemp("import") / "members.csv"
    members.write_text(f"member_id,name,tier\n{PIA},Pia Potential,potential\n")
    salon_server.cli("import", "--members", str(members))
    salon_server.cli(
        "rooms", "create", ROOM, "--title", "Dashboard room", "--tiers", "core,active,potential",
        "--invite", ADA, "--invite", NOBODY,
    )  # fmt: skip


async def metrics_when(
    salon_server: SalonServer, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """``/api/metrics`` once ``ready`` holds for it: the scorer works in the background."""
    metrics: dict[str, Any] = await eventually(
        lambda: salon_server.admin("GET", "/api/metrics"),
        until=ready,
        timeout=SEEN_MS / 1000,
        interval=0.25,
        what="the metrics ready",
    )
    return metrics


@pytest.fixture(scope="module")
def activity_done() -> dict[str, bool]:
    return {}


async def make_activity(
    open_room: OpenRoom, salon_server: SalonServer, done: dict[str, bool]
) -> None:
    """Once per module: Ada (invited) joins the room and chats; Pia buys, so scoring moves
    her from potential to active within this hour."""
    if done:
        return
    ada = (await open_room(ROOM, ADA)).page
    await expect(ada.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    await ada.get_by_role("textbox", name="Chat message").fill("Hello, dashboard")
    await ada.get_by_role("button", name="Send").click()
    await expect(ada.get_by_role("log", name="Chat messages")).to_contain_text("Hello, dashboard")
    await ada.get_by_role("button", name="Leave room").click()
    order = {
        "order_id": "db-1",
        "member_id": PIA,
        "product_id": "tote-7",
        "amount": "89.00",
        "currency": "EUR",
    }
    await salon_server.admin("POST", "/api/purchases", order)
    done["yes"] = True


@pytest.fixture
async def dashboard(
    browser: Browser,
    open_room: OpenRoom,
    salon_server: SalonServer,
    activity_done: dict[str, bool],
) -> AsyncIterator[Page]:
    """The dashboard in a browser whose time zone is Asia/Shanghai, shown with the key, once
    the session, the invitations and Pia's tier change are in the metrics."""
    await make_activity(open_room, salon_server, activity_done)
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="en-US", timezone_id=ZONE
    )
    try:
        page = await context.new_page()
        await page.goto(f"{salon_server.base_url}/dashboard")
        await page.get_by_label("Admin key").fill(salon_server.env["SALON_ADMIN_KEY"])
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_role("heading", name="Members by tier")).to_be_visible()
        await metrics_when(
            salon_server,
            lambda m: (
                m["tiers"]["now"]["active"] >= 1
                and m["funnel"]["invited_joined"] >= 1
                and len(m["sessions"]) >= 1
            ),
        )
        await page.reload()  # drawn from the figures that are now complete
        await page.wait_for_function(
            "() => ['tier-chart', 'funnel-chart', 'timeline-chart']"
            ".every((id) => window.Chart.getChart(id))",
            timeout=SEEN_MS,
        )
        yield page
    finally:
        await context.close()


# Every tick value of a chart's y axis, as Chart.js laid it out.
Y_TICKS_JS = "(id) => window.Chart.getChart(id).scales.y.ticks.map((t) => t.value)"


async def test_count_axes_have_whole_number_ticks(dashboard: Page) -> None:
    """Issue 13: the dashboard's funnel showed fractional ticks (0.2, 0.4, …) for counts
    of people. Every axis that counts people or events ticks in whole numbers."""
    funnel = await dashboard.evaluate(
        "() => window.Chart.getChart('funnel-chart').data.datasets[0].data"
    )
    # Small counts are where Chart.js would pick fractional steps: 2 invited, 1 joined.
    assert funnel[:2] == [2, 1], funnel
    for chart in ("funnel-chart", "tier-chart", "timeline-chart"):
        ticks = await dashboard.evaluate(Y_TICKS_JS, chart)
        assert len(ticks) >= 2, (chart, ticks)
        assert all(float(v).is_integer() for v in ticks), (chart, ticks)
        labels = await dashboard.evaluate(
            "(id) => window.Chart.getChart(id).scales.y.ticks.map((t) => t.label)", chart
        )
        assert not any("." in str(label) for label in labels), (chart, labels)


# The reader's zone and UTC renderings of server moments, by the browser's own Intl.
IN_ZONE_JS = """([isos, options, zone]) => isos.map((iso) => [
  new Intl.DateTimeFormat('en', { ...options, timeZone: zone }).format(new Date(iso)),
  new Intl.DateTimeFormat('en', { ...options, timeZone: 'UTC' }).format(new Date(iso)),
])"""
SHORT = {"dateStyle": "short", "timeStyle": "short"}
CLOCK = {"hour": "2-digit", "minute": "2-digit"}


async def test_every_time_on_the_dashboard_is_in_the_readers_time_zone(
    dashboard: Page, salon_server: SalonServer
) -> None:
    """Issue 13: the dashboard mixed local time (the "Updated" line) and UTC (sessions,
    charts). Every time is now in the reader's own zone, named once in the status line."""
    await expect(dashboard.get_by_role("status")).to_contain_text(f"times in {ZONE}")
    m = await salon_server.admin("GET", "/api/metrics")
    session = m["sessions"][0]
    row = dashboard.locator("#sessions tbody tr").filter(has_text=ROOM).first
    [[started, started_utc]] = await dashboard.evaluate(
        IN_ZONE_JS, [[session["started"]], SHORT, ZONE]
    )
    assert started != started_utc  # the zone matters for this moment
    await expect(row.get_by_role("cell").nth(2)).to_have_text(started)
    assert "UTC" not in await dashboard.locator("#board").inner_text()

    # The session's timeline: minutes in the reader's zone.
    detail = await salon_server.admin("GET", f"/api/metrics/sessions/{session['session']}")
    minutes = [row["minute"] for row in detail["timeline"]]
    expected = await dashboard.evaluate(IN_ZONE_JS, [minutes, CLOCK, ZONE])
    labels = await dashboard.evaluate("() => window.Chart.getChart('timeline-chart').data.labels")
    assert labels == [local for local, _ in expected]
    assert all(local != utc for local, utc in expected)

    # The tier chart's hours, too (its last point is "now").
    hours = [point["hour"] for point in m["tiers"]["history"]]
    assert hours, m["tiers"]
    expected = await dashboard.evaluate(IN_ZONE_JS, [hours, SHORT, ZONE])
    labels = await dashboard.evaluate("() => window.Chart.getChart('tier-chart').data.labels")
    assert labels == [local for local, _ in expected] + ["now"]


async def test_the_tier_chart_shows_a_change_made_within_the_hour(dashboard: Page) -> None:
    """Issue 13: the tier chart stayed flat through a change made in the same hour (the
    hour's only snapshot already held the new counts). Every change of this module (the
    members set up, then Pia from potential to active) falls in this hour: the chart starts
    from the counts before them and ends after them."""
    series = await dashboard.evaluate(
        """() => Object.fromEntries(window.Chart.getChart('tier-chart').data.datasets
          .map((d, i) => [['core', 'active', 'potential', 'silent'][i], d.data]))"""
    )
    assert series["active"][0] < series["active"][-1], series
    # The figures above the chart agree with its last point.
    await expect(dashboard.locator('#tier-now li[data-tier="active"] strong')).to_have_text(
        str(series["active"][-1])
    )
