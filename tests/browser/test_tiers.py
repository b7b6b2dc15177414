"""The loop in real Chromium: a potential member takes part in a session and buys, the
host console shows the tier change, and on her next join a room for active members lets
her in; the operator's dashboard draws the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM, IN_THE_ROOM, OpenRoom, SalonServer, open_tab, rest

pytestmark = pytest.mark.browser

HOST = "t-host"
PIA = "t-pia"
OPEN_ROOM = "t-open"
MEMBERS_ROOM = "t-members"
PUSH_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Pia comes in through ``salon import``: a potential member, scored from now on."""
    salon_server.member(HOST, "core", "Tia Host")
    members = tmp_path_factory.mktemp("import") / "members.csv"
    members.write_text("member_id,name,tier\nt-pia,Pia Potential,potential\n")
    salon_server.cli("import", "--members", str(members))
    salon_server.room(OPEN_ROOM, "Open house", "potential,active,core")
    salon_server.room(MEMBERS_ROOM, "Members' evening", "active,core")


def people_list(page: Page) -> Any:
    return page.get_by_role("list", name="In the room")


async def test_a_potential_member_who_takes_part_and_buys_gets_into_an_active_room(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    # Before: the members' room is not for her.
    refused = await open_room(MEMBERS_ROOM, PIA)
    await expect(refused.page.get_by_role("alert").filter(has_text="potential")).to_be_visible(
        timeout=10_000
    )
    await refused.close_tab()

    # She takes part in a session of the open room: she joins and chats.
    host = await open_room(OPEN_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    await expect(host.page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    pia = await open_room(OPEN_ROOM, PIA)
    await expect(pia.page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    pia_in_list = people_list(host.page).get_by_role("listitem").filter(has_text="Pia Potential")
    await expect(pia_in_list.locator(".tag-tier")).to_have_text("potential")
    await pia.page.get_by_role("textbox", name="Chat message").fill("Love this collection!")
    await pia.page.get_by_role("button", name="Send").click()
    await expect(host.page.get_by_text("Love this collection!")).to_be_visible()

    # She buys: the shop reports the order (server/http/commerce.py), credited to the room.
    status, answer = await rest(
        salon_server,
        "POST",
        "/api/purchases",
        {
            "order_id": "T-1001",
            "member_id": PIA,
            "product_id": "scarf-1",
            "amount": "89.00",
            "currency": "EUR",
        },
    )
    assert status == 201, answer
    assert answer["attribution"]["room_id"] == OPEN_ROOM

    # The host console is told, with the deciding rule in the page's language (the
    # 'tier' message's `rule`); her badge changes.
    await open_tab(host.page, "Activity")
    changes = host.page.get_by_role("region", name="Tier changes")
    await expect(changes).to_contain_text(
        "Pia Potential: potential → active", timeout=PUSH_TIMEOUT_MS
    )
    await expect(changes).to_contain_text(
        "Now meets the active rule: has bought and interacts now and then."
    )
    await open_tab(host.page, "People")
    await expect(pia_in_list.locator(".tag-tier")).to_have_text("active")
    # Members never see the tier changes of others (nor their own, in this console).
    await expect(pia.page.get_by_role("region", name="Tier changes")).to_have_count(0)

    # Next time she joins, the room for active members lets her in.
    await pia.page.get_by_role("button", name="Leave room").click()
    await pia.close_tab()
    again = await open_room(MEMBERS_ROOM, PIA)
    await expect(again.page.get_by_role("heading", level=1)).to_have_text("Members' evening")
    await expect(again.page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=10_000)


async def test_the_dashboard_draws_the_metrics(
    browser: Browser, salon_server: SalonServer, tmp_path: Path
) -> None:
    # Some activity of its own, so that the test stands alone: a share in the open room.
    status, _ = await rest(
        salon_server,
        "POST",
        "/api/events",
        {"kind": "share", "member_id": HOST, "room_id": OPEN_ROOM, "channel": "wechat"},
    )
    assert status == 202
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{salon_server.base_url}/dashboard")
        await expect(page.get_by_role("status")).to_have_text(
            "Enter the admin key to see the metrics."
        )
        await page.get_by_label("Admin key").fill(salon_server.env["SALON_ADMIN_KEY"])
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_role("heading", name="Members by tier")).to_be_visible()
        # Tia (core, pinned) and Pia are members; the counts are drawn and charted.
        await expect(page.locator('#tier-now li[data-tier="core"] strong')).not_to_have_text("0")
        await page.wait_for_function(
            "() => ['tier-chart', 'funnel-chart'].every((id) => window.Chart.getChart(id))"
        )
        assert await page.evaluate("document.getElementById('tier-chart').width") > 0
        row = page.locator("#sessions tbody tr").filter(has_text=OPEN_ROOM).first
        await expect(row).to_be_visible(timeout=10_000)
        await page.wait_for_function("() => window.Chart.getChart('timeline-chart')")
        # Why is Pia where she is?
        await page.get_by_label("Member id").fill(PIA)
        await page.get_by_role("button", name="Explain").click()
        await expect(page.locator("#member-head")).to_contain_text("(t-pia)")
        await expect(page.locator("#member-rules li")).to_have_count(4)
        # The key stays in this tab's session storage: never in the URL or localStorage.
        assert "token" not in page.url and salon_server.env["SALON_ADMIN_KEY"] not in page.url
        assert await page.evaluate("localStorage.length") == 0
        assert await page.evaluate("sessionStorage.getItem('salon.adminKey')") is not None
        assert errors == []
    finally:
        await context.close()
    assert CHROMIUM  # the conftest's Chromium, nothing else
