"""What the layout tests measure in the page: bounding boxes against the viewport."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
LAPTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 768}}

# For each selector: is it rendered, and is its whole box inside the viewport?
BOXES_JS = """(selectors) => selectors.map((sel) => {
  const node = document.querySelector(sel);
  if (!node) return { sel, found: false };
  const r = node.getBoundingClientRect();
  const style = getComputedStyle(node);
  return {
    sel, found: true,
    shown: r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none',
    inside: r.left >= -0.5 && r.top >= -0.5
      && r.right <= window.innerWidth + 0.5 && r.bottom <= window.innerHeight + 0.5,
    box: [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)],
  };
})"""


async def outside_viewport(page: Page, selectors: list[str]) -> list[dict[str, Any]]:
    """The selectors whose element is missing, not shown, or not wholly in the viewport."""
    boxes: list[dict[str, Any]] = await page.evaluate(BOXES_JS, selectors)
    return [b for b in boxes if not (b["found"] and b["shown"] and b["inside"])]


async def page_scrolls(page: Page) -> bool:
    """Does the page itself scroll (beyond the viewport, either way)?"""
    return bool(
        await page.evaluate(
            """() => {
              const el = document.scrollingElement;
              return el.scrollHeight > window.innerHeight + 1
                || el.scrollWidth > window.innerWidth + 1;
            }"""
        )
    )


async def box(page: Page, selector: str) -> dict[str, float]:
    rect: dict[str, float] = await page.locator(selector).first.evaluate(
        "(n) => { const r = n.getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
        " width: r.width, height: r.height}; }"
    )
    return rect
