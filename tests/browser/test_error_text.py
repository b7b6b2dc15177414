"""The page says an error in its own language from the error's code and parameters
(issue 10, finding 3): a case the catalog knows reads its own sentence, parameters that
are codes (tiers) read as words, and a code no catalog knows reads the generic sentence,
never the server's English ``message`` or the bare code."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import IN_THE_ROOM, OpenRoom, SalonServer
from tests.browser.layout_checks import LAPTOP

pytestmark = pytest.mark.browser

ROOM = "et-room"
ADA = "et-ada"
SEEN_MS = 10_000

SAMPLES: list[dict[str, Any]] = [
    {"code": "invalid_state", "params": {"case": "not_on_stage", "name": "Ben"}},
    {"code": "invalid_state", "params": {"case": "a_case_no_catalog_has"}},
    {"code": "not_eligible", "params": {"tiers": ["core", "active"], "tier": "silent"}},
    {"code": "forbidden", "params": {"action": "invite", "role": "member"}},
    {"code": "no_such_code", "message": "An English sentence from the server."},
]


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.room(ROOM, "Error words", "core,active")


async def rendered(open_room: OpenRoom, locale: str, status: str) -> list[str]:
    page = (await open_room(ROOM, ADA, locale=locale, **LAPTOP)).page
    await expect(page.get_by_role("status")).to_have_text(status, timeout=SEEN_MS)
    texts = await page.evaluate(
        """async (samples) => {
            const view = await import('/static/room_view.js');
            return samples.map((error) => view.errorText(error));
        }""",
        SAMPLES,
    )
    assert isinstance(texts, list)
    return [str(text) for text in texts]


async def test_errors_read_in_chinese_from_their_codes(open_room: OpenRoom) -> None:
    assert await rendered(open_room, "zh-CN", "已进入直播间") == [
        "Ben 不在麦上。",
        "现在无法进行这个操作。",
        "此福利面向核心和活跃会员；你目前是沉默会员。",
        "你在本直播间的角色不能进行这个操作。",
        "出了点问题。",
    ]


async def test_errors_read_in_english_and_an_unknown_code_reads_the_generic_sentence(
    open_room: OpenRoom,
) -> None:
    texts = await rendered(open_room, "en-US", IN_THE_ROOM)
    assert texts[0] == "Ben is not on the stage."
    assert texts[1] == "That cannot be done right now."
    assert texts[2] == "This offer is for core and active members; your membership tier is silent."
    assert texts[4] == "Something went wrong."
    assert "An English sentence" not in texts[4] and "no_such_code" not in texts[4]
