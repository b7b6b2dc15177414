"""A client of Janus's HTTP API and of its VideoRoom plugin, for the fan-out benchmark.

This module owns the conversation with Janus (``benchmarks.janus_server`` owns the
process): a session (``create``; one long poll reading its events; a keepalive every
``KEEPALIVE`` seconds), plugin handles (``attach janus.plugin.videoroom``) and the
VideoRoom requests the benchmark needs: create a room, publish an aiortc peer's offer
(``joinandconfigure``), subscribe an aiortc peer to a feed (``join`` as a subscriber,
answer Janus's offer, ``start``). Replies that come later (``ack`` first) are matched to
their request by transaction.

Janus's errors become ``BenchError``s naming the request, Janus's code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from loadtest.procs import BenchError

logger = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
KEEPALIVE = 25.0  # Janus ends a session after 60 s without a request
REQUEST_TIMEOUT = 20.0
ROOM = 1234

Jsep = dict[str, str]
Reply = tuple[dict[str, Any], Jsep | None]


def _check(what: str, reply: dict[str, Any]) -> None:
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise BenchError(f"janus {what}: {error.get('code')} {error.get('reason')}")


class JanusSession:
    """One Janus session: its requests, its event poll and its keepalive."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self._http = http
        self._base = base.rstrip("/")
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.session_id = 0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        transaction = f"t{next(self._ids)}"
        async with self._http.post(
            f"{self._base}{path}", json={**body, "transaction": transaction}
        ) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
        _check(str(body.get("janus")), reply)
        return reply

    async def open(self) -> None:
        reply = await self._post("", {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._poll(), name="janus-poll"),
            asyncio.create_task(self._keepalive(), name="janus-keepalive"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session_id:
            with contextlib.suppress(aiohttp.ClientError, BenchError, TimeoutError):
                await self._post(f"/{self.session_id}", {"janus": "destroy"})

    async def attach(self) -> int:
        reply = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": PLUGIN})
        return int(reply["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any], jsep: Jsep | None = None) -> Reply:
        """Send a VideoRoom request; return its data and JSEP, however late they come."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        transaction = f"t{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        try:
            async with self._http.post(
                f"{self._base}/{self.session_id}/{handle}",
                json={**message, "transaction": transaction},
            ) as response:
                reply: dict[str, Any] = await response.json(content_type=None)
            if reply.get("janus") == "ack":
                reply = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            raise BenchError(
                f"janus {body['request']}: no reply in {REQUEST_TIMEOUT:.0f}s"
            ) from None
        finally:
            self._waiting.pop(transaction, None)
        _check(body["request"], reply)
        data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise BenchError(f"janus {body['request']}: {data['error_code']} {data.get('error')}")
        return data, reply.get("jsep")

    async def _poll(self) -> None:
        url = f"{self._base}/{self.session_id}?maxev=10"
        while True:
            try:
                async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=40)) as response:
                    events = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("janus event poll failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                future = self._waiting.get(event.get("transaction", ""))
                if future is not None and not future.done():
                    future.set_result(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            try:
                await self._post(f"/{self.session_id}", {"janus": "keepalive"})
            except (aiohttp.ClientError, BenchError, TimeoutError) as exc:
                logger.warning("janus keepalive failed: %s", exc)


# --- the VideoRoom as the benchmark uses it -----------------------------------------------


async def create_room(session: JanusSession, bitrate: int, room: int = ROOM) -> None:
    """A room for one VP8 + Opus publisher whose REMB lets it climb to ``bitrate``."""
    handle = await session.attach()
    body = {
        "request": "create",
        "room": room,
        "publishers": 1,
        "bitrate": bitrate,
        "audiocodec": "opus",
        "videocodec": "vp8",
        "fir_freq": 10,
        "notify_joining": False,
    }
    await session.request(handle, body)


async def publish(
    session: JanusSession,
    pc: RTCPeerConnection,
    before_offer: Callable[[], None],
    display: str = "host",
    room: int = ROOM,
) -> int:
    """Publish ``pc``'s tracks in the room; return the publisher's feed id."""
    handle = await session.attach()
    before_offer()
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "offer", "sdp": pc.localDescription.sdp}
    body = {"request": "joinandconfigure", "ptype": "publisher", "room": room, "display": display}
    data, jsep = await session.request(handle, body, offer)
    if jsep is None:
        raise BenchError("janus joinandconfigure: no answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
    return int(data["id"])


async def publisher_feed(session: JanusSession, room: int = ROOM) -> int:
    """The feed id of the room's (one) publisher."""
    handle = await session.attach()
    data, _ = await session.request(handle, {"request": "listparticipants", "room": room})
    for participant in data.get("participants", []):
        if participant.get("publisher"):
            return int(participant["id"])
    raise BenchError(f"janus room {room} has no publisher yet")


async def subscribe(
    session: JanusSession,
    pc: RTCPeerConnection,
    feed: int,
    before_answer: Callable[[], Awaitable[None] | None],
    room: int = ROOM,
) -> None:
    """Subscribe ``pc`` to ``feed``: Janus offers, ``pc`` answers, Janus starts sending.

    ``before_answer`` runs once Janus's offer created ``pc``'s transceivers (to tap them
    and choose the ICE addresses), before the answer is made.
    """
    handle = await session.attach()
    body = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}
    _, jsep = await session.request(handle, body)
    if jsep is None:
        raise BenchError("janus join (subscriber): no offer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
    pending = before_answer()
    if pending is not None:
        await pending
    await pc.setLocalDescription(await pc.createAnswer())
    answer = {"type": "answer", "sdp": pc.localDescription.sdp}
    await session.request(handle, {"request": "start"}, answer)
