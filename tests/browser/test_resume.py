"""Reconnect with state kept (issue 11) in real Chromium: the live host and a co-host both
reload their pages; with the resume token their tabs kept, the host is live again and
its video reaches a member, and the co-host is co-host again, publishing her microphone,
with her Activity sheet open; nobody clicks anything after the reloads."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser import conftest as kit
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "rs-host"
CLEO = "rs-cleo"
DAN = "rs-dan"
ROOM = "rs-room"
ACTIVITY = '#dock [data-open-sheet="activity"]'

# Frames the page's `sub` connection decoded so far, and the video element's clock.
VIDEO_JS = """async () => {
  const pc = window.salon && window.salon.pcs.sub;
  let frames = 0;
  if (pc) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
    });
  }
  const v = document.getElementById('remote-video');
  return {frames, time: v ? v.currentTime : 0};
}"""


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: kit.SalonServer) -> None:
    salon_server.member(HOST, "core", "Rosa Host")
    salon_server.member(CLEO, "core", "Cleo Cohost")
    salon_server.member(DAN, "active", "Dan Member")
    salon_server.room(ROOM, "Resume room", "core,active")


async def video_advances(page: Page, frames: int) -> None:
    """The member's page decodes more than ``frames`` frames more and its video plays on."""
    start = await page.evaluate(VIDEO_JS)
    await eventually(
        lambda: page.evaluate(VIDEO_JS),
        until=lambda now: (
            now["frames"] > start["frames"] + frames and now["time"] > start["time"] + 0.5
        ),
        timeout=kit.MEDIA_TIMEOUT,
        interval=0.25,
        what="the member's video advancing (frames decoded, currentTime)",
    )


async def test_live_host_and_cohost_reload_and_are_back_without_a_click(
    open_room: kit.OpenRoom,
) -> None:
    host = (await open_room(ROOM, HOST, role="host")).page
    cleo = (await open_room(ROOM, CLEO)).page
    dan = (await open_room(ROOM, DAN)).page
    for page in (host, cleo, dan):
        await kit.in_room(page)
    await host.get_by_role("button", name="Go live").click()
    await expect(host.locator("#live-badge")).to_have_text("Live", timeout=10_000)
    await kit.open_tab(host, "People")
    await kit.person_action(host, "Cleo Cohost", "Make co-host")
    await expect(cleo.locator(ACTIVITY)).to_be_visible(timeout=15_000)
    await kit.open_sheet(cleo, "activity")
    await video_advances(dan, 10)

    # Both reload. From here on nobody clicks.
    await host.reload()
    await cleo.reload()

    # The host is live again by itself: its outgoing connection is up, the button says so.
    await expect(host.get_by_role("button", name="Stop live")).to_be_visible(timeout=15_000)
    await expect(host.locator("#live-badge")).to_have_text("Live", timeout=15_000)
    assert await host.evaluate("window.salon.resumed && window.salon.resumed.live") is True
    await host.wait_for_function(
        "() => window.salon.pcs.pub && window.salon.pcs.pub.connectionState === 'connected'",
        timeout=kit.MEDIA_TIMEOUT * 1000,
    )
    # The member sees the republished video (new frames, the picture's clock moving on).
    await expect(dan.locator("#live-badge")).to_have_text("Live", timeout=15_000)
    await video_advances(dan, 10)

    # The co-host is co-host again, with her Activity sheet open.
    await kit.in_room(cleo)
    await cleo.wait_for_function("() => window.salon.you && window.salon.you.role === 'cohost'")
    await expect(cleo.locator(ACTIVITY)).to_be_visible()
    # Her microphone is published again (on stage: a `pub` connection of her own).
    await cleo.wait_for_function(
        "() => window.salon.stagePublishing && window.salon.pcs.pub"
        " && window.salon.pcs.pub.connectionState === 'connected'",
        timeout=kit.MEDIA_TIMEOUT * 1000,
    )
    await expect(cleo.locator("body")).to_have_attribute("data-sheet", "activity")
    await expect(cleo.locator("#ix-shop")).to_be_visible()
    # And the host's stage shows her on it again.
    await expect(host.get_by_role("list", name="On stage")).to_contain_text(
        "Cleo Cohost", timeout=15_000
    )
