"""The room page in real Chromium against a real server: what members and the host see.

Assertions are on what a person sees (buttons, badges, the people list, the refusal
sentence) and on WebRTC receive statistics, never on the mere absence of errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    IN_THE_ROOM,
    MEDIA_TIMEOUT,
    OpenRoom,
    SalonServer,
    open_sheet,
    open_tab,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "b-host"
ADA = "b-ada"
BEN = "b-ben"
CY = "b-cy"
SID = "b-sid"

LIVE_ROOM = "b-live"
GATE_ROOM = "b-gate"
DUO_ROOM = "b-duo"
LEAVE_ROOM = "b-leave"
# Markup in a title must reach people as text, never as elements.
GATE_TITLE = "Spring <b>Preview</b> & Friends"

PRESENCE_TIMEOUT_MS = 10_000

# Sums inbound-rtp counters of the page's `sub` peer connection, per kind.
SUB_STATS_JS = """async () => {
  const pc = window.salon && window.salon.pcs.sub;
  if (!pc) return null;
  const out = {
    connection: pc.connectionState,
    video: {framesDecoded: 0, packetsReceived: 0, frameWidth: 0, frameHeight: 0},
    audio: {packetsReceived: 0},
  };
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const kind = s.kind || s.mediaType;
    if (kind === 'video') {
      out.video.framesDecoded += s.framesDecoded || 0;
      out.video.packetsReceived += s.packetsReceived || 0;
      out.video.frameWidth = s.frameWidth || out.video.frameWidth;
      out.video.frameHeight = s.frameHeight || out.video.frameHeight;
    } else if (kind === 'audio') {
      out.audio.packetsReceived += s.packetsReceived || 0;
    }
  });
  return out;
}"""


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    """Members and rooms for the whole module, made with the operator CLI."""
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(BEN, "core", "Ben Core")
    salon_server.member(CY, "active", "Cy Active")
    salon_server.member(SID, "silent", "Sid Silent")
    salon_server.room(LIVE_ROOM, "Core Preview", "core,active")
    salon_server.room(GATE_ROOM, GATE_TITLE, "core,active")
    salon_server.room(DUO_ROOM, "Duo Room", "core,active")
    salon_server.room(LEAVE_ROOM, "Drop-in Room", "core,active")


def people_list(page: Page) -> Any:
    return page.get_by_role("list", name="In the room")


async def wait_for_media(page: Page, who: str, frames: int = 10) -> dict[str, Any]:
    """Poll the page's `sub` stats until it has decoded video and received audio."""

    async def sub_stats() -> dict[str, Any] | None:
        stats: dict[str, Any] | None = await page.evaluate(SUB_STATS_JS)
        return stats

    def playing(stats: dict[str, Any] | None) -> bool:
        return bool(
            stats
            and stats["video"]["framesDecoded"] > frames
            and stats["audio"]["packetsReceived"] > 0
        )

    try:
        stats = await eventually(
            sub_stats,
            until=playing,
            timeout=MEDIA_TIMEOUT,
            interval=0.25,
            what=f"{who}: decoded video and received audio in the sub stats",
        )
    except AssertionError as exc:
        status = await page.get_by_role("status").first.text_content()
        raise AssertionError(f"{exc}; status shown: {status!r}") from None
    assert stats is not None
    return stats


async def count_sockets(page: Page) -> None:
    """Before the page loads: a fake clock, and a count of the WebSockets it opens."""
    await page.clock.install()
    await page.add_init_script(
        """(() => {
          const Real = window.WebSocket;
          window.salonSocketsOpened = 0;
          window.WebSocket = function (...args) {
            window.salonSocketsOpened += 1;
            return new Real(...args);
          };
          window.WebSocket.prototype = Real.prototype;
          Object.assign(window.WebSocket, {
            CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3,
          });
        })()"""
    )


async def go_live(host: Page) -> None:
    await host.get_by_role("button", name="Go live").click()
    await expect(host.get_by_role("button", name="Stop live")).to_be_visible()
    await expect(host.get_by_label("Your camera preview")).to_be_visible()
    await expect(host.locator("#live-badge")).to_have_text("Live", timeout=10_000)


async def expect_picture(page: Page) -> None:
    """The member's video element is playing a picture (not just receiving bytes)."""
    video = page.get_by_label("Live stream")
    await expect(video).to_be_visible()
    await page.wait_for_function(
        """() => {
          const v = document.getElementById('remote-video');
          return v.videoWidth > 0 && v.videoHeight > 0 && !v.paused && v.currentTime > 0;
        }""",
        timeout=10_000,
    )


async def test_member_sees_and_hears_the_host_going_live(open_room: OpenRoom) -> None:
    member = await open_room(LIVE_ROOM, ADA)
    page = member.page
    await expect(page.get_by_role("heading", level=1)).to_have_text("Core Preview")
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    await expect(page.locator("#live-badge")).to_have_text("Not live")
    await expect(page.get_by_text("The host is not live right now")).to_be_visible()

    host = await open_room(LIVE_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    await expect(
        people_list(host.page).get_by_role("listitem").filter(has_text="Ada Core")
    ).to_be_visible()
    # A member's people list is a sheet, opened from the top bar.
    await open_sheet(page, "people")
    await expect(
        people_list(page).get_by_role("listitem").filter(has_text="Hana Host")
    ).to_be_visible(timeout=PRESENCE_TIMEOUT_MS)

    await page.keyboard.press("Escape")  # the sheet closes
    await expect(people_list(page)).to_be_hidden()

    # The member's page was already open: the stream reaches it without a new offer.
    await go_live(host.page)
    await expect(host.page.get_by_role("status")).to_have_text("Media connected", timeout=15_000)
    await expect(page.locator("#live-badge")).to_have_text("Live", timeout=10_000)
    stats = await wait_for_media(page, "Ada")
    assert stats["video"]["frameWidth"] > 0, stats
    await expect(page.get_by_role("status")).to_have_text("Media connected")
    await expect_picture(page)

    # Muted autoplay first; one click turns the sound on.
    assert await page.get_by_label("Live stream").evaluate("v => v.muted") is True
    # (The loudspeaker's button says "Sound on/off": "Mute"/"Unmute" are microphones.)
    await page.get_by_role("button", name="Sound on").click()
    await expect(page.get_by_role("button", name="Sound off", exact=True)).to_be_visible()
    assert await page.get_by_label("Live stream").evaluate("v => v.muted") is False

    await host.page.get_by_role("button", name="Stop live").click()
    await expect(host.page.get_by_role("button", name="Go live")).to_be_visible()
    await expect(page.locator("#live-badge")).to_have_text("Not live", timeout=10_000)


async def test_silent_member_is_refused_with_the_reason(open_room: OpenRoom) -> None:
    member = await open_room(GATE_ROOM, SID, prepare=count_sockets)
    page = member.page
    alert = page.get_by_role("alert").filter(has_text="silent")
    await expect(alert).to_be_visible(timeout=10_000)
    # Rendered in the page from the refusal's code and params: the room's tiers and hers.
    await expect(alert).to_have_text(
        "This room is for core and active members; you are a silent member."
    )
    # The room's title heads the page, as typed, as text.
    await expect(page.get_by_role("heading", level=1)).to_have_text(GATE_TITLE)
    assert await page.locator("h1 b, #ended-message b").count() == 0, "markup was rendered"
    await expect(page.get_by_role("heading", name="You can't enter this room")).to_be_visible()
    # No raw connection dot on a refusal: the status line is there for assistive tech only.
    await expect(page.locator("#conn-status")).to_have_attribute("data-state", "disconnected")
    await expect(page.locator("#conn-status")).to_be_hidden()
    await expect(page.get_by_role("button", name="Go live")).to_be_hidden()
    await expect(page.get_by_label("Live stream")).to_be_hidden()
    # A refusal is final: the page neither offers media nor knocks again. The page's clock
    # runs past its longest reconnect delay (15 s and jitter): a knock would have started.
    await page.clock.run_for(20_000)
    assert await page.evaluate("window.salonSocketsOpened") == 1
    await expect(page.locator("#conn-status")).to_have_attribute("data-state", "disconnected")
    assert await page.evaluate("window.salon.pcs.sub === null")


async def test_two_members_both_receive_the_stream(open_room: OpenRoom) -> None:
    host = await open_room(DUO_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    await expect(host.page.get_by_role("status")).to_have_text("In the room")
    await go_live(host.page)

    ben, cy = await asyncio.gather(open_room(DUO_ROOM, BEN), open_room(DUO_ROOM, CY))
    for person in (ben, cy):
        await expect(person.page.locator("#live-badge")).to_have_text("Live", timeout=10_000)
    ben_stats, cy_stats = await asyncio.gather(
        wait_for_media(ben.page, "Ben"), wait_for_media(cy.page, "Cy")
    )
    assert ben_stats["video"]["framesDecoded"] > 10
    assert cy_stats["video"]["framesDecoded"] > 10
    await asyncio.gather(expect_picture(ben.page), expect_picture(cy.page))

    listing = people_list(host.page)
    await expect(listing.get_by_role("listitem")).to_have_count(3)
    # The host sees tiers (members do not: the server sends them to hosts only).
    ben_tier = listing.get_by_role("listitem").filter(has_text="Ben Core").locator(".tag-tier")
    await expect(ben_tier).to_have_text("core")
    cy_tier = listing.get_by_role("listitem").filter(has_text="Cy Active").locator(".tag-tier")
    await expect(cy_tier).to_have_text("active")


async def test_member_who_closes_the_tab_leaves_the_hosts_list(open_room: OpenRoom) -> None:
    host = await open_room(LEAVE_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    member = await open_room(LEAVE_ROOM, ADA)
    await expect(member.page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    listing = people_list(host.page)
    ada = listing.get_by_role("listitem").filter(has_text="Ada Core")
    await expect(ada).to_be_visible(timeout=PRESENCE_TIMEOUT_MS)
    await expect(host.page.get_by_text("2 people")).to_be_visible()

    await member.close_tab()

    await expect(ada).to_have_count(0, timeout=PRESENCE_TIMEOUT_MS)
    await expect(listing.get_by_role("listitem")).to_have_count(1)
    await expect(host.page.get_by_text("1 person", exact=True)).to_be_visible()
