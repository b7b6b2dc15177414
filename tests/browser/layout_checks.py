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


# Elements whose content is wider or taller than their box (clipped or spilling labels).
OVERFLOWING_JS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((n) => n.getClientRects().length
    && (n.scrollWidth > n.clientWidth + 1 || n.scrollHeight > n.clientHeight + 1))
  .map((n) => n.outerHTML.slice(0, 120))"""


async def overflowing(page: Page, selector: str) -> list[str]:
    """The shown elements matching ``selector`` whose content spills out of their box."""
    found: list[str] = await page.evaluate(OVERFLOWING_JS, selector)
    return found


# Pairs (a, b) of shown elements whose boxes intersect (by more than a pixel each way).
OVERLAPS_JS = """([first, second]) => {
  const shown = (sel) => [...document.querySelectorAll(sel)].filter((n) => {
    const r = n.getBoundingClientRect();
    const s = getComputedStyle(n);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  });
  const found = [];
  const meet = (r, q) => Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1
    && Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1;
  for (const a of first) for (const na of shown(a)) for (const b of second) {
    if (shown(b).some((nb) => meet(na.getBoundingClientRect(), nb.getBoundingClientRect()))) {
      found.push([a, b]);
    }
  }
  return found;
}"""


async def overlapping(page: Page, first: list[str], second: list[str]) -> list[list[str]]:
    """The selector pairs, one from each list, whose shown elements overlap."""
    found: list[list[str]] = await page.evaluate(OVERLAPS_JS, [first, second])
    return found


# Selectors whose element is not the one a tap at its centre reaches (something covers it).
COVERED_JS = """(selectors) => selectors.filter((sel) => {
  const node = document.querySelector(sel);
  if (!node) return true;
  const r = node.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !(hit && (hit === node || node.contains(hit)));
})"""


async def covered(page: Page, selectors: list[str]) -> list[str]:
    """The selectors whose element a tap at its centre would not reach."""
    found: list[str] = await page.evaluate(COVERED_JS, selectors)
    return found
