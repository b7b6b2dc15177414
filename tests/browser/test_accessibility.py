"""axe-core (npm ``axe-core``, vendored in web/vendor/ and served by the server under test,
never from a CDN) on the member page, the host console, the refusal page and the
dashboard: no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import IN_THE_ROOM, OpenRoom, SalonServer
from tests.browser.layout_checks import LAPTOP, PHONE

pytestmark = pytest.mark.browser

HOST = "ax-host"
ADA = "ax-ada"
SID = "ax-sid"
ROOM = "ax-room"
SEEN_MS = 10_000

RUN_AXE = """async () => {
  const result = await window.axe.run(document, {
    resultTypes: ['violations'],
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
}"""


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(SID, "silent", "Sid Silent")
    salon_server.room(ROOM, "Accessible room", "core,active")


async def serious_violations(page: Page, base_url: str) -> list[dict[str, Any]]:
    # Same origin as the page: its script-src 'self' policy lets it in.
    await page.add_script_tag(url=f"{base_url}/static/vendor/axe.min.js")
    found: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    return found


async def test_member_page_and_host_console(open_room: OpenRoom, salon_server: SalonServer) -> None:
    host = (await open_room(ROOM, HOST, role="host", **LAPTOP)).page
    member = (await open_room(ROOM, ADA, **PHONE)).page
    for page in (host, member):
        await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=SEEN_MS)
    await expect(member.locator("#dock .ix-reaction").first).to_be_visible()
    assert await serious_violations(member, salon_server.base_url) == []
    await member.locator('[data-open-sheet="qa"]').click()
    assert await serious_violations(member, salon_server.base_url) == []
    assert await serious_violations(host, salon_server.base_url) == []


async def test_refusal_page(open_room: OpenRoom, salon_server: SalonServer) -> None:
    page = (await open_room(ROOM, SID, **PHONE)).page
    await expect(page.locator("#ended-message")).to_contain_text("silent", timeout=SEEN_MS)
    assert await serious_violations(page, salon_server.base_url) == []


async def test_dashboard(open_room: OpenRoom, salon_server: SalonServer) -> None:
    person = await open_room(ROOM, ADA, **LAPTOP)
    page = await person.context.new_page()
    await page.goto(f"{salon_server.base_url}/dashboard")
    await page.get_by_label("Admin key").fill(salon_server.env["SALON_ADMIN_KEY"])
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("heading", name="Members by tier")).to_be_visible()
    await page.wait_for_function("() => window.Chart.getChart('tier-chart')")
    assert await serious_violations(page, salon_server.base_url) == []
