"""``make screenshots``: the README's pictures, taken from a live demo room.

Starts ``make run``'s demo (``python -m server.devtools.dev``: embedded Redis, the demo room and
members) on a free port, opens the host console at 1366x768 and goes live with
Chromium's fake camera, opens two members' pages (one on a 390x844 phone), lets them
chat, react, ask and buy, then saves:

- ``docs/screenshots/member-phone.png``   the member page on a phone
- ``docs/screenshots/member-sideways.png`` the same phone held sideways (844x390)
- ``docs/screenshots/host-console.png``   the host console on a laptop
- ``docs/screenshots/dashboard.png``      the operator dashboard

``--lang zh-CN`` takes them in Chinese (``*-zh-CN.png``). Run it inside the loopback-only
namespace with the repository on ``PYTHONPATH``, as ``make screenshots`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from server.devtools.redis_embed import free_port
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.layout_checks import LAPTOP, PHONE

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
LINK = re.compile(r"^\s+(\w+)\s.*?(http://\S+/rooms/\S+)$")


def start_demo(port: int, admin_key: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env.update(SALON_PORT=str(port), SALON_ADMIN_KEY=admin_key, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.devtools.dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    links: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the demo exited with {proc.wait()}")
        match = LINK.match(line.rstrip())
        if match:
            links[match.group(1)] = match.group(2)
        if len(links) >= 9:
            break
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/healthz", timeout=1):
            return proc, links
        time.sleep(0.2)
    raise RuntimeError("the demo did not answer /healthz")


def purchase(base: str, admin_key: str, member: str, order: str) -> None:
    body = {
        "order_id": order,
        "member_id": member,
        "product_id": "tote-7",
        "amount": "349.00",
        "currency": "CNY",
    }
    request = urllib.request.Request(
        f"{base}/api/purchases",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


async def page_for(browser: Browser, url: str, lang: str, **options: object) -> Page:
    context = await browser.new_context(
        locale=lang, permissions=["camera", "microphone"], **options
    )
    await context.route(
        "https://shop.example.com/**", lambda route: route.fulfill(body="<p>shop</p>")
    )
    page = await context.new_page()
    await page.goto(url)
    return page


async def take(base: str, links: dict[str, str], admin_key: str, lang: str) -> list[Path]:
    suffix = "" if lang == "en" else f"-{lang}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            host = await page_for(browser, links["host"], lang, **LAPTOP)
            await host.locator("#live-btn").click()
            await host.wait_for_selector("#live-badge[data-live='true']", timeout=20_000)
            ava = await page_for(browser, links["ava"], lang, **PHONE)
            cleo = await page_for(browser, links["cleo"], lang, **LAPTOP)
            for page in (ava, cleo):
                await page.wait_for_selector("#dock:not([hidden])", timeout=20_000)
            await host.locator("#tab-products").click()
            fields = host.locator("#ix-product form input")
            values = ["tote-7", "Autumn tote", "¥349", "", "https://shop.example.com/p/tote-7"]
            for index, value in enumerate(values):
                if value:
                    await fields.nth(index).fill(value)
            await host.locator("#ix-product form button[type=submit]").click()
            await ava.wait_for_selector(".ix-product-card", timeout=10_000)
            lines = {
                "en": ["Hi from Shanghai!", "Is the tote waterproof?", "Love the colour 😍"],
                "zh-CN": ["大家好，我在上海！", "这个包防水吗？", "颜色太好看了 😍"],
            }[lang if lang in ("en", "zh-CN") else "en"]
            for page, text in ((cleo, lines[0]), (ava, lines[2]), (cleo, lines[1])):
                await page.locator("#dock input[type=text]").fill(text)
                await page.locator("#dock input[type=text]").press("Enter")
            await cleo.locator("[data-open-sheet='qa']").click()
            await cleo.locator("#ix-qa input[type=text]").fill(lines[1])
            await cleo.locator("#ix-qa input[type=text]").press("Enter")
            await cleo.locator("[data-open-sheet='qa']").click()
            await cleo.locator(".ix-buy").click()
            purchase(base, admin_key, "cleo", f"shot-{secrets.token_hex(4)}")
            for _ in range(3):
                await ava.locator(".ix-reaction").first.click()
                await cleo.locator(".ix-reaction").nth(2).click()
            await host.locator("#tab-qa").click()
            await ava.wait_for_function(
                "() => { const v = document.getElementById('remote-video');"
                " return v.videoWidth > 0 && v.currentTime > 0.5; }",
                timeout=20_000,
            )
            await ava.locator(".ix-reaction").first.click()
            await asyncio.sleep(0.6)
            shots = []
            for page, name in ((ava, "member-phone"), (host, "host-console")):
                path = OUT / f"{name}{suffix}.png"
                await page.screenshot(path=str(path))
                shots.append(path)
            # The same phone held sideways.
            await ava.set_viewport_size({"width": 844, "height": 390})
            await ava.locator(".ix-reaction").first.click()
            await asyncio.sleep(0.6)
            path = OUT / f"member-sideways{suffix}.png"
            await ava.screenshot(path=str(path))
            shots.append(path)
            board = await page_for(browser, f"{base}/dashboard", lang, **LAPTOP)
            await board.locator("#admin-key").fill(admin_key)
            await board.locator("#admin-key").press("Enter")
            await board.wait_for_selector("#board:not([hidden])", timeout=15_000)
            await asyncio.sleep(1.0)
            path = OUT / f"dashboard{suffix}.png"
            await board.screenshot(path=str(path))
            shots.append(path)
            return shots
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="en", choices=["en", "zh-CN"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    admin_key = secrets.token_urlsafe(24)
    proc, links = start_demo(port, admin_key)
    try:
        shots = asyncio.run(take(f"http://127.0.0.1:{port}", links, admin_key, args.lang))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for path in shots:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
