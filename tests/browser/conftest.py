"""Browser-test fixtures: a real ``salon serve`` per module, and headless Chromium.

The server is the installed ``salon`` CLI started as a subprocess, exactly as an operator
would run it, against the session's real Redis. Members, rooms and tokens are made with
the same CLI. Chromium is Debian's, driven by Playwright, with a fake camera and
microphone. Run the suite inside the loopback-only network namespace::

    bash scripts/netns-run .venv/bin/python -m pytest tests/browser -q
"""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from server.devtools.local_server import healthy, serve_command, serve_env
from server.devtools.redis_embed import EmbeddedRedis, free_port

SALON = Path(sys.executable).with_name("salon")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0
RTP_PORTS = 200
# A member's page is in the room once joined; "Media connected" once its `sub` is up.
IN_THE_ROOM = re.compile(r"^(In the room|Media connected)$")
# The same two states in Chinese (the page moves on to "media" once a host's feed connects).
IN_THE_ROOM_ZH = re.compile(r"^(已进入直播间|音视频已连接)$")
MEDIA_TIMEOUT = 20.0
# Web-first assertions wait this long (Playwright's default is 5 s): a 2-core CI machine
# running Chromium, the server and Redis at once can stall a page for seconds.
expect.set_options(timeout=15_000)


def _udp_range(size: int) -> tuple[int, int]:
    """A block of ``size`` UDP ports on 127.0.0.1 that were all free a moment ago."""
    for _ in range(50):
        low = 20000 + secrets.randbelow(40000 - size)
        socks: list[socket.socket] = []
        try:
            for port in range(low, low + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return low, low + size - 1
    raise RuntimeError(f"no block of {size} free UDP ports on 127.0.0.1")


@dataclass
class SalonServer:
    """A running ``salon serve`` and the environment its CLI commands share."""

    base_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]

    def _fail(self, args: tuple[str, ...], code: int | None, out: str, err: str) -> None:
        raise AssertionError(
            f"`salon {' '.join(args)}` exited with {code}\nstdout: {out}\nstderr: {err}"
        )

    def cli(self, *args: str) -> str:
        """Run a ``salon`` command (blocking; for module set-up) and return its stdout."""
        result = subprocess.run(
            [str(SALON), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            self._fail(args, result.returncode, result.stdout, result.stderr)
        return result.stdout

    async def acli(self, *args: str) -> str:
        """Run a ``salon`` command without blocking the test's event loop."""
        proc = await asyncio.create_subprocess_exec(
            str(SALON),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            self._fail(args, proc.returncode, out.decode(), err.decode())
        return out.decode()

    def member(self, member_id: str, tier: str, name: str) -> None:
        self.cli("members", "set", member_id, "--tier", tier, "--name", name)

    def room(self, room_id: str, title: str, tiers: str, capacity: int | None = None) -> None:
        args = ["rooms", "create", room_id, "--title", title, "--tiers", tiers]
        if capacity is not None:
            args += ["--capacity", str(capacity)]
        self.cli(*args)

    async def token(self, member_id: str, room_id: str, role: str = "member") -> str:
        out = await self.acli("token", member_id, "--room", room_id, "--role", role)
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        assert lines, f"`salon token {member_id}` printed nothing"
        return lines[-1]

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """An operator's REST call with the admin key; asserts success, returns the JSON."""
        headers = {"Authorization": f"Bearer {self.env['SALON_ADMIN_KEY']}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base_url + path, json=body, headers=headers) as answer,
        ):
            assert answer.status < 300, await answer.text()
            return await answer.json()

    def room_url(self, room_id: str, token: str) -> str:
        return f"{self.base_url}/rooms/{quote(room_id)}?token={quote(token, safe='')}"

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def salon_server(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SalonServer]:
    """One real server per test module, stopped with SIGTERM as a service manager would."""
    if not SALON.exists():
        pytest.fail(f"{SALON} is missing: install the project (`make deps`) first")
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
    finally:
        client.close()

    workdir = tmp_path_factory.mktemp("salon-server")
    port = free_port()
    rtp_low, rtp_high = _udp_range(RTP_PORTS)
    # Start from a clean slate: a stray SALON_* variable would change (or stop) the server.
    env = serve_env(redis_server.url, secrets.token_hex(16), secrets.token_urlsafe(24))
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command([str(SALON)], port, redis_server.url, (rtp_low, rtp_high)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = SalonServer(f"http://127.0.0.1:{port}", env, log_path, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(server.base_url):
            if process.poll() is not None:
                pytest.fail(f"salon serve exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"salon serve not healthy after {STARTUP_TIMEOUT}s:\n{server.log_tail()}"
                )
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium with a fake camera and microphone.

    ``launch`` gives the browser a fresh, throw-away user-data-dir of its own; each person
    below gets a separate context (no shared cookies, storage or permissions).
    """
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@dataclass
class Person:
    """One person's tab on a room page."""

    label: str
    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)

    async def close_tab(self) -> None:
        await self.page.close()
        await self.context.close()


OpenRoom = Callable[..., Awaitable[Person]]


@pytest.fixture
async def open_room(
    request: pytest.FixtureRequest, browser: Browser, salon_server: SalonServer
) -> AsyncIterator[OpenRoom]:
    """``await open_room(room_id, member_id, role="member", **context_options)``: a new tab
    on that room's link; ``context_options`` go to Playwright's ``new_context`` (viewport,
    ``is_mobile``, ``has_touch``, ``locale``, ``timezone_id``). ``prepare(page)``, if given,
    runs before the page loads (a fake clock, an init script)."""
    people: list[Person] = []
    request.node.salon_people = people

    async def _open(
        room_id: str,
        member_id: str,
        role: str = "member",
        prepare: Callable[[Page], Awaitable[None]] | None = None,
        **context_options: Any,
    ) -> Person:
        token = await salon_server.token(member_id, room_id, role)
        options: dict[str, Any] = {"viewport": {"width": 1100, "height": 760}, "locale": "en-US"}
        options.update(context_options)
        context = await browser.new_context(permissions=["camera", "microphone"], **options)
        page = await context.new_page()
        person = Person(f"{member_id} ({role})", context, page)
        page.on("console", lambda m: person.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: person.console.append(f"pageerror: {e}"))
        page.on(
            "requestfailed",
            lambda r: person.console.append(f"requestfailed: {r.url} {r.failure}"),
        )
        people.append(person)
        if prepare is not None:
            await prepare(page)
        await page.goto(salon_server.room_url(room_id, token))
        return person

    yield _open
    for person in people:
        if not person.page.is_closed():
            await person.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, attach the server's log and each tab's console to the report."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        server = getattr(item, "funcargs", {}).get("salon_server")
        if isinstance(server, SalonServer):
            report.sections.append(("salon serve log (tail)", server.log_tail()))
        for person in getattr(item, "salon_people", []):
            report.sections.append(
                (f"console of {person.label}", "\n".join(person.console[-60:]) or "(empty)")
            )
    return report


# --- the room page's sheets, tabs and menus ---------------------------------------------


async def in_room(page: Page, timeout_ms: float = 10_000) -> None:
    """Wait until the page is in the room (joined, or with its media connected)."""
    await expect(page.get_by_role("status")).to_have_text(IN_THE_ROOM, timeout=timeout_ms)


async def open_sheet(page: Page, sheet: str) -> None:
    """Open a member's sheet (``qa``, ``poll``, ``people``) unless it is open already."""
    if await page.evaluate("document.body.dataset.sheet || ''") == sheet:
        return
    await page.locator(f'[data-open-sheet="{sheet}"]').first.click()
    await expect(page.locator("body")).to_have_attribute("data-sheet", sheet)


async def open_tab(page: Page, name: str) -> None:
    """Select a tab of the host console by its label."""
    await page.get_by_role("tab", name=name).click()
    await expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


async def pin_product(host: Page, price: str = "¥349") -> None:
    """The host pins the test product "Spring tote" (tote-7) from the Products tab."""
    await open_tab(host, "Products")
    await host.get_by_label("Product id").fill("tote-7")
    await host.get_by_label("Title").fill("Spring tote")
    await host.get_by_label("Price").fill(price)
    await host.get_by_label("Product page (https)").fill("https://shop.example.com/p/tote-7")
    await host.get_by_role("button", name="Pin product").click()


async def person_action(page: Page, name: str, action: str, *, confirm: bool = False) -> None:
    """A host's per-person menu: open ``name``'s menu, pick ``action`` (and confirm it)."""
    await page.get_by_role("button", name=f"Actions for {name}").click()
    await (
        page.get_by_role("menu", name=f"Actions for {name}")
        .get_by_role("menuitem", name=action, exact=True)
        .click()
    )
    if confirm:
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        await dialog.locator("#confirm-ok").click()
        await expect(dialog).to_be_hidden()


async def rest(salon_server: SalonServer, method: str, path: str, body: Any) -> tuple[int, Any]:
    """One call to the server's REST API with the admin key: the status and the JSON body."""
    headers = {"Authorization": f"Bearer {salon_server.env['SALON_ADMIN_KEY']}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, salon_server.base_url + path, json=body, headers=headers) as answer,
    ):
        return answer.status, await answer.json()
