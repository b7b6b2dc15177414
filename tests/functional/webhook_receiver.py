"""A webhook receiver on 127.0.0.1 for tests: an aiohttp server that answers with a
scripted behaviour per request (``"500"``, ``"hang"``, ``"slow"``, ``"ok"``) and keeps
every request it saw, with whether its signature checked out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.devtools.redis_embed import free_port
from server.http.commerce import check_signature


@dataclass
class Seen:
    delivery_id: str
    kind: str
    body: dict[str, Any]
    signed: bool
    answered: str


@dataclass
class Receiver:
    secret: str
    script: list[str] = field(default_factory=list)
    default: str = "ok"
    slow_seconds: float = 1.0
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def accepted(self) -> list[Seen]:
        return [s for s in self.seen if s.answered == "ok" or s.answered == "slow"]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        header = request.headers.get("Salon-Signature", "")
        signed = check_signature(self.secret, header, raw, time.time(), 300) is None
        answer = self.script.pop(0) if self.script else self.default
        seen = Seen(
            request.headers.get("Salon-Delivery-Id", ""),
            request.headers.get("Salon-Event", ""),
            json.loads(raw),
            signed,
            answer,
        )
        if answer == "hang":
            # Longer than the dispatcher's timeout: it gives up on this attempt.
            self.seen.append(seen)
            await asyncio.sleep(5)
            return web.Response(status=504)
        if answer == "500":
            self.seen.append(seen)
            return web.Response(status=500)
        if answer == "slow":
            await asyncio.sleep(self.slow_seconds)
        self.seen.append(seen)
        self.arrived.set()
        return web.json_response({"ok": True})

    async def wait_accepted(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len({s.delivery_id for s in self.accepted}) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(self.accepted)} of {count} deliveries accepted"
            self.arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


@asynccontextmanager
async def receiver(secret: str, **kwargs: Any) -> AsyncIterator[Receiver]:
    rec = Receiver(secret, **kwargs)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()
