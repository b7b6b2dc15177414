"""Issue 9, defect 1 in real Chromium: one chat line with a lone surrogate no longer
silences a room.

The bug pinned: a member sent ``{"type":"chat_send","text":"x\\ud800"}`` (what
``JSON.stringify`` makes of such a string); every JSON recipient's writer died on
``UnicodeEncodeError``, no browser received anything more, and later joiners never got
``joined`` because the line sat in the chat history. Here two browsers are in the room,
a third member sends that line over a raw socket, and both browsers still see the next
line while a browser that joins afterwards gets into the room with that line in its
history.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenRoom, SalonServer

pytestmark = pytest.mark.browser

ROOM = "edge-chat"
HOST, ADA, BEN, RAW = "edge-host", "edge-ada", "edge-ben", "edge-raw"
SEEN_MS = 15_000
# The bytes a browser sends for JSON.stringify({type: "chat_send", text: "x\ud800"}).
SURROGATE_LINE = '{"type":"chat_send","text":"x\\ud800","ref":"bad"}'


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(BEN, "core", "Ben Core")
    salon_server.member(RAW, "core", "Raw Socket")
    salon_server.room(ROOM, "Edge chat", "core")


async def test_a_lone_surrogate_line_does_not_silence_the_room(
    open_room: OpenRoom, salon_server: SalonServer
) -> None:
    host = (await open_room(ROOM, HOST, role="host")).page
    ada = (await open_room(ROOM, ADA)).page
    for page in (host, ada):
        await expect(page.get_by_role("textbox", name="Chat message")).to_be_visible(
            timeout=SEEN_MS
        )
    token = await salon_server.token(RAW, ROOM)
    url = salon_server.base_url.replace("http", "ws", 1) + "/ws"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("salon.v1.json",)) as ws,
    ):
        await ws.send_str(json.dumps({"type": "join", "token": token, "room": ROOM}))
        assert (await ws.receive_json(timeout=10))["type"] == "joined"
        await ws.send_str(SURROGATE_LINE)
        while (reply := await ws.receive_json(timeout=10))["type"] != "error":
            pass
        assert (reply["code"], reply["field"], reply["ref"]) == ("invalid_text", "text", "bad")

        # The room still talks: both browsers see the next line, whoever sends it.
        await ws.send_str(json.dumps({"type": "chat_send", "text": "after the bad line"}))
        await ada.get_by_role("textbox", name="Chat message").fill("ada is still here")
        await ada.get_by_role("button", name="Send").click()
        for page in (host, ada):
            log = page.get_by_role("log", name="Chat messages")
            await expect(log.get_by_text("after the bad line")).to_be_visible(timeout=SEEN_MS)
            await expect(log.get_by_text("ada is still here")).to_be_visible(timeout=SEEN_MS)

    # A later joiner gets `joined` (its page leaves "Joining the room…") with the history.
    ben = (await open_room(ROOM, BEN)).page
    log = ben.get_by_role("log", name="Chat messages")
    await expect(log.get_by_text("after the bad line")).to_be_visible(timeout=SEEN_MS)
    await expect(log.get_by_text("ada is still here")).to_be_visible(timeout=SEEN_MS)
    assert "\ufffd" not in (await log.inner_text())
