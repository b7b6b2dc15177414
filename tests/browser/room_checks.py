"""What the member-page tests share: the controls a live session needs, and chatting and
reacting from the bottom bar as a member would."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.layout_checks import outside_viewport

SEEN_MS = 10_000

# What a member needs during a live session, on any screen.
MEMBER_CONTROLS = [
    ".video-frame",
    "#dock .ix-chat-form input[type=text]",
    "#dock .ix-chat-form button[type=submit]",
    *[f'#dock .ix-reaction[data-reaction="{r}"]' for r in ("heart", "clap", "fire", "laugh")],
    *[f'#dock .ix-reaction[data-reaction="{r}"]' for r in ("wow", "party")],
    "#dock .hand-btn",
    '#dock [data-open-sheet="qa"]',
    '#dock [data-open-sheet="poll"]',
    '#dock [data-open-sheet="rewards"]',
    "#live-badge",
    "#sound-btn",
    "#leave-btn",
    "#people-btn",
    "#lang-select",
]
PRODUCT_CONTROLS = ["#ix-product .ix-product-card", "#ix-product .ix-buy", "#dock .dock-btn"]


async def chat_and_react(member: Page, host: Page, text: str, *, tap: bool) -> None:
    """The member chats and reacts from the bottom bar; the host sees both."""
    field = member.get_by_role("textbox", name="Chat message")
    await field.fill(text)
    await member.get_by_role("button", name="Send").click()
    line = member.get_by_role("log", name="Chat messages").get_by_text(text)
    await expect(line).to_be_visible(timeout=SEEN_MS)
    assert await outside_viewport(member, [".ix-chat-line:last-child"]) == []
    await expect(host.get_by_role("log", name="Chat messages").get_by_text(text)).to_be_visible(
        timeout=SEEN_MS
    )
    heart = member.get_by_role("button", name="React with heart")
    if tap:
        await heart.tap()
    else:
        await heart.click()
    # It floats over the member's own video, and reaches the host.
    await expect(member.locator(".video-frame .ix-floater").first).to_be_attached(timeout=SEEN_MS)
    await expect(host.locator(".ix-reaction-tally")).to_contain_text("❤️", timeout=SEEN_MS)
