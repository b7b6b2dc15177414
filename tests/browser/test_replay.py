"""A replay end to end in real Chromium (issue 16): the host goes live with the fake
camera in a room whose recording is on and pins a product at about 2 s; the session ends;
a member opens the replay page, which plays, seeks (the video served with range requests,
206) and shows the product card at its moment, not before."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Response, expect

from tests.browser.conftest import OpenRoom, SalonServer, in_room, pin_product, rest
from tests.browser.test_room import go_live
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "rp-host"
MEMBER = "rp-ada"
OUTSIDER = "rp-sid"
ROOM = "rp-room"
LIVE_SECONDS = 6.0


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(MEMBER, "core", "Ada Core")
    salon_server.member(OUTSIDER, "silent", "Sid Silent")
    salon_server.room(ROOM, "Spring launch", "core,active")


async def record_a_session(salon_server: SalonServer, open_room: OpenRoom) -> dict[str, Any]:
    """Live for a few seconds with a product pinned at about 2 s; the recorded session."""
    await salon_server.admin("PUT", f"/api/rooms/{ROOM}/recording", {"on": True})
    host = await open_room(ROOM, HOST, role="host")
    await in_room(host.page)
    await go_live(host.page)

    async def recording() -> bool:
        state = await salon_server.admin("GET", f"/api/rooms/{ROOM}/recording")
        return bool(state["recording"])

    await eventually(recording, what="the recording started")
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(2.0)
    await pin_product(host.page)
    await expect(host.page.get_by_role("button", name="Unpin")).to_be_visible()
    await asyncio.sleep(max(0.0, LIVE_SECONDS - (asyncio.get_running_loop().time() - started)))
    await host.close_tab()  # the room empties: the session ends, the file is closed

    async def listed() -> list[dict[str, Any]]:
        return list((await salon_server.admin("GET", f"/api/rooms/{ROOM}/replays"))["replays"])

    replays = await eventually(listed, what="the recorded session listed")
    return replays[0]


async def test_a_member_watches_the_replay_seeks_and_sees_the_product_at_its_moment(
    salon_server: SalonServer, open_room: OpenRoom, browser: Browser
) -> None:
    replay = await record_a_session(salon_server, open_room)
    session = replay["session"]
    assert replay["duration_ms"] > 4000, replay
    token = await salon_server.token(MEMBER, ROOM)
    status, view = await rest(
        salon_server, "GET", f"/api/replays/{session}?token={quote(token, safe='')}", None
    )
    assert status == 200
    pins = [e for e in view["timeline"] if e["kind"] == "product" and e["product"]]
    assert len(pins) == 1 and 1.5 <= pins[0]["t"] <= 4.5, view["timeline"]
    pinned_at = pins[0]["t"]

    context = await browser.new_context(viewport={"width": 390, "height": 800}, is_mobile=True)
    page = await context.new_page()
    videos: list[Response] = []
    page.on("response", lambda r: videos.append(r) if "/video" in r.url else None)
    await page.goto(f"{salon_server.base_url}/replay/{session}?token={quote(token, safe='')}")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#replay-title")).to_have_text("Spring launch")
    card = page.locator("#replay-product")
    await expect(card).to_be_hidden()  # the playhead is before the pin

    # It plays: the playhead advances.
    await page.evaluate(
        "() => { const v = document.getElementById('replay-video'); "
        "v.muted = true; return v.play(); }"
    )

    async def playing_past(seconds: float) -> bool:
        return (
            float(await page.evaluate("document.getElementById('replay-video').currentTime"))
            > seconds
        )

    await eventually(lambda: playing_past(0.5), what="the replay playing")
    # It seeks: the playhead jumps past the pin, and the card shows.
    target = min(pinned_at + 1.0, replay["duration_ms"] / 1000 - 0.5)
    await page.evaluate(
        f"() => {{ document.getElementById('replay-video').currentTime = {target}; }}"
    )
    await eventually(lambda: playing_past(target - 0.1), what="the seek done")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("Spring tote")
    assert any(r.status == 206 for r in videos), [r.status for r in videos]
    # Back before the pin: the card goes again.
    await page.evaluate("() => { document.getElementById('replay-video').currentTime = 0.2; }")
    await expect(card).to_be_hidden()
    await context.close()


async def test_a_member_outside_the_rooms_tiers_gets_the_refusal(
    salon_server: SalonServer, browser: Browser
) -> None:
    """Runs after the recording above (same module)."""
    replays = (await salon_server.admin("GET", f"/api/rooms/{ROOM}/replays"))["replays"]
    token = await salon_server.token(OUTSIDER, ROOM)
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(
        f"{salon_server.base_url}/replay/{replays[0]['session']}?token={quote(token, safe='')}"
    )
    await expect(page.locator("#replay-error")).to_have_text(
        "该回放仅对本房间的会员开放，您的会员等级不在其中。"
    )
    await expect(page.locator("#replay-video")).to_be_hidden()
    await context.close()
