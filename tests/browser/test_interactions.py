"""Chat, Q&A, polls and product moments in real Chromium against ``salon serve``.

What is asserted is what people see on their pages (and, for the purchase, the event in
the Redis stream): a question asked, upvoted, pinned and answered; a poll from creation
to results; a pinned product clicked and then bought through the REST API.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from playwright.async_api import BrowserContext, Page, expect
from redis.asyncio import Redis

from server.devtools.redis_embed import EmbeddedRedis
from server.engagement.events import STREAM_KEY, Event, decode
from tests.browser.conftest import OpenRoom, SalonServer, open_sheet, open_tab
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

HOST = "ix-host"
ADA = "ix-ada"
BEN = "ix-ben"
QA_ROOM = "ix-qa"
POLL_ROOM = "ix-poll"
SHOP_ROOM = "ix-shop"
CHAT_ROOM = "ix-chat"
SEEN_MS = 10_000
# A 1x1 transparent PNG, served for the product image.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f50000000049454e44ae426082"
)


@pytest.fixture(scope="module", autouse=True)
def world(salon_server: SalonServer) -> None:
    salon_server.member(HOST, "core", "Hana Host")
    salon_server.member(ADA, "core", "Ada Core")
    salon_server.member(BEN, "active", "Ben Active")
    for room in (QA_ROOM, POLL_ROOM, SHOP_ROOM, CHAT_ROOM):
        salon_server.room(room, f"Room {room}", "core,active")


def questions(page: Page) -> Any:
    return page.get_by_role("list", name="Questions")


async def joined(page: Page) -> None:
    await expect(page.get_by_role("log", name="Chat messages")).to_be_visible(timeout=SEEN_MS)


async def test_question_asked_upvoted_pinned_and_answered(open_room: OpenRoom) -> None:
    host = (await open_room(QA_ROOM, HOST, role="host")).page
    ada = (await open_room(QA_ROOM, ADA)).page
    ben = (await open_room(QA_ROOM, BEN)).page
    for page in (host, ada, ben):
        await joined(page)
    text = "Will the <b>autumn</b> drop come in navy?"
    # Members open Q&A as a sheet from the bottom bar; the host console shows it in a tab.
    for page in (ada, ben):
        await open_sheet(page, "qa")

    await ada.get_by_label("Your question").fill(text)
    await ada.get_by_role("button", name="Ask").click()
    on_ben = questions(ben).get_by_role("listitem").filter(has_text=text)
    await expect(on_ben).to_be_visible(timeout=SEEN_MS)
    await expect(on_ben).to_contain_text("Ada Core")
    assert await ben.locator(".ix-questions b").count() == 0, "markup was rendered"
    # The asker cannot upvote their own question.
    on_ada = questions(ada).get_by_role("listitem").filter(has_text=text)
    await expect(on_ada.get_by_role("button", name="Upvote")).to_have_count(0)

    upvote = on_ben.get_by_role("button", name="Upvote")
    await upvote.click()
    await expect(upvote).to_have_attribute("aria-pressed", "true")
    await expect(on_ben).to_contain_text("1 vote")
    await expect(on_ada).to_contain_text("1 vote", timeout=SEEN_MS)

    on_host = questions(host).get_by_role("listitem").filter(has_text=text)
    await on_host.get_by_role("button", name="Pin").click()
    for page in (ada, ben):
        now = page.get_by_role("region", name="Answering now")
        await expect(now).to_contain_text(text, timeout=SEEN_MS)
    # Members have no moderation controls.
    await expect(ben.get_by_role("button", name="Mark answered")).to_have_count(0)

    await (
        host.get_by_role("region", name="Answering now")
        .get_by_role("button", name="Mark answered")
        .click()
    )
    for page in (ada, ben):
        await expect(page.get_by_role("region", name="Answering now")).to_have_count(0)
        item = questions(page).get_by_role("listitem").filter(has_text=text)
        await expect(item).to_contain_text("Answered", timeout=SEEN_MS)
        await expect(item.get_by_role("button", name="Upvote")).to_have_count(0)


async def test_poll_from_creation_to_results(open_room: OpenRoom) -> None:
    host = (await open_room(POLL_ROOM, HOST, role="host")).page
    ada = (await open_room(POLL_ROOM, ADA)).page
    ben = (await open_room(POLL_ROOM, BEN)).page
    for page in (host, ada, ben):
        await joined(page)

    await open_tab(host, "Polls")
    await host.get_by_label("Poll question").fill("Which colour next?")
    for n, option in enumerate(("Red", "Sand", "Navy"), start=1):
        await host.get_by_label(f"Option {n}", exact=False).first.fill(option)
    await host.get_by_role("button", name="Create poll").click()

    for page, choice in ((ada, "Sand"), (ben, "Sand")):
        # A new poll marks the bottom bar's Poll button until the member opens it.
        await expect(page.get_by_role("button", name="Poll: a new poll is open")).to_be_visible(
            timeout=SEEN_MS
        )
        await open_sheet(page, "poll")
        poll = page.get_by_role("group", name="Poll: Which colour next?")
        await expect(poll).to_be_visible(timeout=SEEN_MS)
        await poll.get_by_label(choice).check()
        await poll.get_by_role("button", name="Vote").click()
        await expect(poll.get_by_text("Your vote")).to_be_visible()
    # Ada changes her mind while the poll is open.
    ada_poll = ada.get_by_role("group", name="Poll: Which colour next?")
    await ada_poll.get_by_label("Navy").check()
    await ada_poll.get_by_role("button", name="Vote").click()

    host_poll = host.get_by_role("group", name="Poll: Which colour next?")
    await expect(host_poll).to_contain_text("2 votes · Open", timeout=SEEN_MS)
    results = host_poll.locator(".ix-poll-result")
    await expect(results).to_have_text(["0% (0)", "50% (1)", "50% (1)"], timeout=SEEN_MS)

    await host_poll.get_by_role("button", name="Close poll").click()
    for page in (host, ada, ben):
        poll = page.get_by_role("group", name="Poll: Which colour next?")
        await expect(poll).to_contain_text("2 votes · Closed", timeout=SEEN_MS)
        await expect(poll.locator(".ix-poll-result")).to_have_text(["0% (0)", "50% (1)", "50% (1)"])
        await expect(poll.get_by_role("button", name="Vote")).to_have_count(0)
    # The host may run the next poll.
    await expect(host.get_by_role("button", name="Create poll")).to_be_visible()


async def _shop(context: BrowserContext) -> None:
    """Answer the product's page and image ourselves: the namespace has no internet."""
    await context.route(
        "https://shop.example.com/**", lambda route: route.fulfill(body="<p>shop</p>")
    )
    await context.route(
        "https://cdn.example.com/**",
        lambda route: route.fulfill(body=PIXEL, content_type="image/png"),
    )


async def _events(redis: Redis, kind: str, count: int) -> list[Event]:
    async def recorded() -> list[Event]:
        entries = await redis.xrange(STREAM_KEY)
        return [e for e in (decode(fields[b"e"]) for _, fields in entries) if e.kind == kind]

    found: list[Event] = await eventually(
        recorded,
        until=lambda found: len(found) >= count,
        interval=0.1,
        what=f"{count} {kind} events",
    )
    return found


async def test_pinned_product_clicked_then_bought(
    open_room: OpenRoom, salon_server: SalonServer, redis_server: EmbeddedRedis
) -> None:
    host_person = await open_room(SHOP_ROOM, HOST, role="host")
    ada_person = await open_room(SHOP_ROOM, ADA)
    host, ada = host_person.page, ada_person.page
    await _shop(ada_person.context)
    for page in (host, ada):
        await joined(page)

    await open_tab(host, "Products")
    await host.get_by_label("Product id").fill("tote-7")
    await host.get_by_label("Title").fill("Spring tote")
    await host.get_by_label("Price").fill("€49")
    await host.get_by_label("Image address (https)").fill("https://cdn.example.com/tote.png")
    await host.get_by_label("Product page (https)").fill("https://shop.example.com/p/tote-7")
    await host.get_by_role("button", name="Pin product").click()

    card = ada.get_by_role("region", name="Featured product")
    await expect(card).to_contain_text("Spring tote", timeout=SEEN_MS)
    await expect(card).to_contain_text("€49")
    image = card.locator("img")
    await expect(image).to_have_attribute("src", "https://cdn.example.com/tote.png")
    # Loaded, not blocked: the page's CSP lets https images in.
    await ada.wait_for_function(
        "() => { const i = document.querySelector('.ix-product-image');"
        " return i && i.complete && i.naturalWidth === 1; }",
        timeout=SEEN_MS,
    )
    async with ada.context.expect_page() as shop_tab:
        await card.get_by_role("link", name="View product: Spring tote").click()
    shop = await shop_tab.value
    await expect(shop.get_by_text("shop")).to_be_visible()
    await expect(host.get_by_text("1 click by 1 · 0 bought")).to_be_visible(timeout=SEEN_MS)

    order = {
        "order_id": "web-1001",
        "member_id": ADA,
        "product_id": "tote-7",
        "amount": "49.00",
        "currency": "EUR",
    }
    headers = {"Authorization": f"Bearer {salon_server.env['SALON_ADMIN_KEY']}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{salon_server.base_url}/api/purchases", data=json.dumps(order), headers=headers
        ) as response,
    ):
        answer = await response.json()
        assert response.status == 201, answer
    assert answer["attribution"]["room_id"] == SHOP_ROOM
    assert answer["attribution"]["via"] == "presence"

    await expect(host.get_by_text("1 click by 1 · 1 bought")).to_be_visible(timeout=SEEN_MS)
    await open_tab(host, "Activity")
    activity = host.get_by_role("list", name="Purchases")
    await expect(activity).to_contain_text("Ada Core bought tote-7 · €49.00", timeout=SEEN_MS)
    # The live strip counts it: one purchase, its revenue, one click.
    strip = host.get_by_role("region", name="This session so far")
    await expect(strip.locator('[data-figure="purchases"] strong')).to_have_text("1")
    await expect(strip.locator('[data-figure="revenue"] strong')).to_have_text("€49.00")
    await expect(strip.locator('[data-figure="clicks"] strong')).to_have_text("1")
    await expect(ada.get_by_role("list", name="Purchases")).to_have_count(0)

    redis = Redis.from_url(redis_server.url)
    try:
        clicks = await _events(redis, "product_click", 2)
        purchases = await _events(redis, "purchase", 1)
    finally:
        await redis.aclose()
    click = [e for e in clicks if e.data.get("action") == "click"]
    assert [(e.member_id, e.room_id, e.data["product_id"]) for e in click] == [
        (ADA, SHOP_ROOM, "tote-7")
    ]
    [bought] = purchases
    assert (bought.member_id, bought.room_id) == (ADA, SHOP_ROOM)
    assert bought.data["order_id"] == "web-1001" and bought.data["amount"] == "49.00"
    assert bought.data["session"] == click[0].data["session"] == answer["attribution"]["session"]


async def test_chat_shows_markup_as_text_and_host_deletes(open_room: OpenRoom) -> None:
    host = (await open_room(CHAT_ROOM, HOST, role="host")).page
    ada = (await open_room(CHAT_ROOM, ADA)).page
    for page in (host, ada):
        await joined(page)
    text = '<img src=x onerror="window.pwned=1"><b>hi</b> & bye'
    await ada.get_by_role("textbox", name="Chat message").fill(text)
    await ada.get_by_role("button", name="Send").click()
    log = host.get_by_role("log", name="Chat messages")
    await expect(log.get_by_text(text, exact=True)).to_be_visible(timeout=SEEN_MS)
    assert await log.locator("img, b").count() == 0
    assert await host.evaluate("window.pwned === undefined")
    await ada.get_by_role("button", name="React with heart").click()
    await expect(host.locator(".ix-reaction-tally")).to_contain_text("❤️ 1", timeout=SEEN_MS)

    await log.get_by_role("button", name="Delete message from Ada Core").click()
    await expect(ada.get_by_role("log", name="Chat messages").get_by_text(text)).to_have_count(
        0, timeout=SEEN_MS
    )
    await expect(log.get_by_text(text)).to_have_count(0)
