"""An orderly stop of a real ``salon serve``: pages are told to reconnect, sockets close,
the room's session ends with its events in Redis, and the stop takes seconds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from server.engagement.events import STREAM_FIELD, STREAM_KEY, EventKind, decode
from tests.functional.conftest import Socket, token
from tests.functional.crash_rig import PersistentRedis, ServeProcess, seed

CLOSE_SERVICE_RESTART = 1012


async def test_a_stop_sends_pages_away_and_keeps_the_sessions_events(tmp_path: Path) -> None:
    """Regression (issue 10, finding 8): nothing closed the sockets on shutdown, so a stop
    waited out aiohttp's 60 s ``shutdown_timeout`` with media closing under live sessions,
    and pages were not told to come back."""
    redis = PersistentRedis(tmp_path)
    await redis.start()
    server = ServeProcess(redis.url, tmp_path)
    try:
        await seed(redis.url, ["cora"])
        async with aiohttp.ClientSession() as http:
            await server.start(http)
            url = f"{server.url.replace('http', 'ws')}/ws"
            host = Socket(await http.ws_connect(url, protocols=("salon.v1.json",)))
            cora = Socket(await http.ws_connect(url, protocols=("salon.v1.json",)))
            await host.join(token("host", role="host"))
            joined = await cora.join(token("cora"))
            session = joined["interactions"]["session"]
            await cora.send({"type": "chat_send", "text": "still here"})
            await cora.recv_type("chat")

            assert server.process is not None
            started = time.monotonic()
            server.process.terminate()
            for page in (host, cora):
                told = await page.recv_type("reconnect", timeout=10)
                assert told == {"type": "reconnect", "code": "server_stopping", "retry_after": 1.0}
                closed = await page.ws.receive(timeout=10)
                assert (closed.type, closed.data) == (
                    aiohttp.WSMsgType.CLOSE,
                    CLOSE_SERVICE_RESTART,
                )
            async with asyncio.timeout(15):
                await server.process.wait()
            assert time.monotonic() - started < 10, server.log()
            assert server.process.returncode == 0, server.log()
    finally:
        await server.stop()

    client = Redis.from_url(redis.url)
    try:
        events = [decode(fields[STREAM_FIELD]) for _, fields in await client.xrange(STREAM_KEY)]
    finally:
        await client.aclose()
        await redis.kill()
    ours = [(e.kind, e.member_id) for e in events if e.data.get("session") == session]
    assert sorted(ours) == sorted(
        [
            (EventKind.JOIN, "host"),
            (EventKind.JOIN, "cora"),
            (EventKind.CHAT, "cora"),
            (EventKind.LEAVE, "host"),
            (EventKind.LEAVE, "cora"),
        ]
    )
