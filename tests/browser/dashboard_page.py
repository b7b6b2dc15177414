"""The operator's dashboard opened in a fresh browser context: a locale and a time zone of
the test's choosing, the admin key entered, page errors collected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page

from tests.browser.conftest import SalonServer


@asynccontextmanager
async def open_dashboard(
    browser: Browser, salon_server: SalonServer, locale: str, zone: str
) -> AsyncIterator[tuple[Page, list[str]]]:
    """The dashboard at 1366x900, shown with the admin key, and the page's errors so far."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, locale=locale, timezone_id=zone
    )
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{salon_server.base_url}/dashboard")
        await page.locator("#admin-key").fill(salon_server.env["SALON_ADMIN_KEY"])
        await page.locator("#key-form button[type=submit]").click()
        yield page, errors
    finally:
        await context.close()
