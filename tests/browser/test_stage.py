"""The stage in real Chromium with fake microphones, against a real server.

A member raises a hand, the host invites, the member accepts and speaks: another
member's page receives the speaker's audio (its inbound RTP for the speaker's slot
grows) and shows who is speaking. The host mutes (the audio stops at the server), the
speaker unmutes, the host moves the speaker off stage: the slot's receiver goes inactive
and its track is muted for everyone, on the same peer connection. A banned member's new
link is refused with a sentence that says so; a member's forged host-only message is
refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import re
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
    person_action,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "s-host"
SPEAKER = "s-ada"
LISTENER = "s-ben"
ROGUE = "s-cy"
STAGE_ROOM = "s-stage"
BAN_ROOM = "s-ban"

# Inbound audio of the page's stage slots (not the host's main pair), and the slots.
SLOT_STATS_JS = """async () => {
  const pc = window.salon && window.salon.pcs.sub;
  if (!pc) return null;
  const slots = window.salon.slots.filter((s) => s.kind === 'audio');
  const mids = new Set(slots.map((s) => s.mid));
  let packets = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && mids.has(s.mid)) {
      packets += s.packetsReceived || 0;
    }
  });
  return {packets, slots, pc: pc.connectionState};
}"""


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(SPEAKER, "core", "Ada Speaker")
    salon_server.member(LISTENER, "active", "Ben Listener")
    salon_server.member(ROGUE, "core", "Cy Rogue")
    salon_server.room(STAGE_ROOM, "Stage Night", "core,active")
    salon_server.room(BAN_ROOM, "Ban Room", "core,active")


def person(page: Page, name: str) -> Any:
    return (
        page.get_by_role("list", name="In the room").get_by_role("listitem").filter(has_text=name)
    )


async def slot_stats(page: Page) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate(SLOT_STATS_JS)
    return stats


async def packets_grow(page: Page, who: str, timeout: float = MEDIA_TIMEOUT) -> int:
    """Wait until the page's stage-slot audio packets grow over half a second."""

    async def over_half_a_second() -> tuple[int, dict[str, Any]]:
        before = (await slot_stats(page))["packets"]
        await asyncio.sleep(0.5)  # the window the packets must grow in
        return before, await slot_stats(page)

    _, stats = await eventually(
        over_half_a_second,
        until=lambda sample: sample[1]["packets"] > sample[0] > 0,
        timeout=timeout,
        interval=0,
        what=f"{who}: stage audio arriving (packets before, stats after)",
    )
    return int(stats["packets"])


async def packets_stall(page: Page, who: str, timeout: float = 10.0) -> None:
    """Wait until no stage-slot audio packet arrives for a whole second."""

    async def over_a_second() -> tuple[int, dict[str, Any]]:
        before = (await slot_stats(page))["packets"]
        await asyncio.sleep(1.0)  # the window in which no packet may arrive
        return before, await slot_stats(page)

    await eventually(
        over_a_second,
        until=lambda sample: sample[1]["packets"] == sample[0],
        timeout=timeout,
        interval=0,
        what=f"{who}: stage audio stopping (packets before, stats after)",
    )


async def test_hand_invite_accept_speak_mute_and_move_off(open_room: OpenRoom) -> None:
    host = await open_room(STAGE_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    ada = await open_room(STAGE_ROOM, SPEAKER)
    ben = await open_room(STAGE_ROOM, LISTENER)
    for p in (host, ada, ben):
        await expect(p.page.get_by_role("status")).to_have_text(IN_THE_ROOM)
    await expect(person(host.page, "Ben Listener")).to_be_visible(timeout=10_000)
    # Members keep the people list open as a sheet to watch the stage.
    for p in (ada, ben):
        await open_sheet(p.page, "people")
    # Mark Ben's `sub` connection: renegotiation must keep this very object.
    await ben.page.wait_for_function("window.salon.pcs.sub !== null")
    await ben.page.evaluate("window.salon.pcs.sub.salonMark = 'first'")

    # The member raises a hand; the host sees it in the queue with tier and score.
    await ada.page.get_by_role("button", name="Raise hand").click()
    await expect(ada.page.get_by_role("button", name="Lower hand")).to_be_visible()
    queue = host.page.get_by_role("list", name="Raised hands").get_by_role("listitem")
    await expect(queue.filter(has_text="Ada Speaker").locator(".tag-tier")).to_have_text("core")
    await expect(queue.filter(has_text="Ada Speaker")).to_contain_text(re.compile(r"Score \d"))

    # The host invites, the member accepts: the member is a speaker for everyone.
    await queue.filter(has_text="Ada Speaker").get_by_role("button", name="Invite to stage").click()
    invitation = ada.page.get_by_role("group", name="Invitation to the stage")
    await expect(invitation).to_contain_text("Hana Host invites you to the stage.")
    await invitation.get_by_role("button", name="Accept").click()
    for p in (host, ada, ben):
        await expect(person(p.page, "Ada Speaker")).to_contain_text("Speaker")
    await expect(ada.page.get_by_role("button", name="Leave stage")).to_be_visible()
    await expect(ada.page.get_by_text("Your microphone is on.")).to_be_visible()

    # Another member's page receives the speaker's audio on the same `sub` connection.
    await packets_grow(ben.page, "Ben")
    assert await ben.page.evaluate("window.salon.pcs.sub.salonMark") == "first"
    assert await ben.page.evaluate("window.salon.pcs.sub.connectionState") == "connected"
    await packets_grow(host.page, "the host")
    # ... and sees that she speaks, refreshed at least twice a second.
    speaking = person(ben.page, "Ada Speaker").get_by_text("Speaking")
    await expect(speaking).to_be_visible(timeout=10_000)
    updates = await ben.page.evaluate(
        """() => new Promise((done) => {
          const start = window.salonStage.updates;
          setTimeout(() => done(window.salonStage.updates - start), 2000);
        })"""
    )
    assert updates >= 4, f"speaking updates in 2 s: {updates}"

    # The host mutes her (from her menu): the server stops forwarding, everyone sees it.
    await person_action(host.page, "Ada Speaker", "Mute")
    await expect(ada.page.get_by_text("Your microphone is muted.")).to_be_visible()
    await expect(person(ben.page, "Ada Speaker")).to_contain_text("Muted")
    await packets_stall(ben.page, "Ben")
    # The host cannot unmute her; only she can.
    await host.page.get_by_role("button", name="Actions for Ada Speaker").click()
    await expect(host.page.get_by_role("menuitem", name="Ask to unmute")).to_be_visible()
    await host.page.keyboard.press("Escape")
    await ada.page.get_by_role("button", name="Unmute").click()
    await expect(ada.page.get_by_text("Your microphone is on.")).to_be_visible()
    await packets_grow(ben.page, "Ben")

    # Moved off the stage: the slot goes inactive and its track is muted, no reconnect.
    await person_action(host.page, "Ada Speaker", "Move off stage")
    for p in (host, ada, ben):
        await expect(person(p.page, "Ada Speaker")).to_contain_text("Member")
    await expect(ada.page.get_by_role("button", name="Raise hand")).to_be_visible()
    for p, who in ((ben, "Ben"), (host, "the host")):
        await p.page.wait_for_function(
            """() => window.salon.slots.length > 0 && window.salon.slots.every(
                 (s) => !s.active && s.direction === 'inactive' && s.trackMuted)""",
            timeout=10_000,
        )
        await packets_stall(p.page, who)
    assert await ben.page.evaluate("window.salon.pcs.sub.salonMark") == "first"
    assert await ben.page.evaluate("window.salon.pcs.sub.connectionState") == "connected"
    assert await ada.page.evaluate("window.salon.pcs.pub === null")


async def test_forged_host_message_is_refused_and_a_ban_keeps_a_member_out(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    host = await open_room(BAN_ROOM, HOST, role="host")
    await open_tab(host.page, "People")
    rogue = await open_room(BAN_ROOM, ROGUE)
    ben = await open_room(BAN_ROOM, LISTENER)
    await expect(person(host.page, "Cy Rogue")).to_be_visible(timeout=10_000)
    await expect(person(host.page, "Ben Listener")).to_be_visible(timeout=10_000)

    # A member forges host-only messages from the console: refused, nothing happens.
    ben_id = await ben.page.evaluate("window.salon.you.id")
    host_id = await host.page.evaluate("window.salon.you.id")
    await rogue.page.evaluate(
        "(id) => window.salon.send({type: 'remove', participant: id, ban: true})", host_id
    )
    await expect(rogue.page.locator("#notice")).to_have_text(
        "Your role in this room does not allow that."
    )
    await rogue.page.evaluate("document.getElementById('notice').textContent = ''")
    await rogue.page.evaluate(
        "(id) => window.salon.send({type: 'stage_invite', participant: id})", ben_id
    )
    await expect(rogue.page.locator("#notice")).to_have_text(
        "Your role in this room does not allow that.", timeout=10_000
    )
    # Marker: a chat line from the same socket after the forged invitation; once Ben's page
    # shows it, an invitation the server had sent him would be on his page too.
    await rogue.page.evaluate("window.salon.send({type: 'chat_send', text: 'marker after'})")
    await expect(ben.page.locator(".ix-chat-line").filter(has_text="marker after")).to_have_count(
        1, timeout=10_000
    )
    await expect(ben.page.get_by_role("group", name="Invitation to the stage")).to_have_count(0)
    await expect(host.page.get_by_role("status")).to_have_text(IN_THE_ROOM)

    # The host bans the member: removed now, and a fresh link is refused with the reason.
    await person_action(host.page, "Cy Rogue", "Ban", confirm=True)
    removed = rogue.page.get_by_role("heading", name="You were removed from the room")
    await expect(removed).to_be_visible()
    await expect(rogue.page.locator("#ended-message")).to_contain_text("banned you")
    await expect(person(host.page, "Cy Rogue")).to_have_count(0)
    again = await open_room(BAN_ROOM, ROGUE)
    refusal = again.page.locator("#ended-message")
    await expect(refusal).to_contain_text("You have been banned from this room", timeout=10_000)
    await expect(again.page.get_by_role("heading", level=1)).to_have_text("Ban Room")

    # The operator lifts the ban: the member gets in again.
    await salon_server.acli("bans", "remove", BAN_ROOM, ROGUE)
    back = await open_room(BAN_ROOM, ROGUE)
    await expect(back.page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=10_000)
