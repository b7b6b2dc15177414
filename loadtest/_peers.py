"""The processes of the fan-out benchmark: a relay server, a publisher bot, subscriber bots.

``loadtest.fanout`` starts each of them with ``loadtest.procs.child_main`` in its own
process, so the server's CPU can be measured alone, and talks to it over a pipe
(``loadtest.procs``). The synthetic tracks are ``loadtest.synthetic``'s; the media bots of
``python -m loadtest run`` reuse the same tracks and peer set-up (``loadtest.rtc``).

- ``server``: one relay behind ``POST /offer {pc, who, sdp} -> {sdp}`` on 127.0.0.1, either
  Salon's forwarding ``RoomMedia`` or aiortc's transcoding ``MediaRelay`` set up as in
  aiortc's examples (the publisher's track is decoded; every subscriber gets
  ``relay.subscribe(track)`` and so its own encoder).
- ``publisher``: one aiortc peer sending 640x480 video at 30 fps whose content keeps
  changing (a moving gradient plus a moving noise patch) and a tone on Opus.
- ``subscribers``: aiortc peers that never decode (``media_passthrough`` on the bot side
  too) and count the encoded frames they receive.

Everything binds 127.0.0.1 only and uses no STUN/TURN server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from multiprocessing.connection import Connection
from typing import Protocol

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from loadtest.procs import BenchError, Message, serve_commands
from loadtest.rtc import (
    LOOPBACK,
    loopback_policy,
    new_peer,
    prefer_forwarded_codecs,
    wait_connected,
)
from loadtest.synthetic import PatternVideoTrack, ToneAudioTrack
from server.ids import ParticipantId, RoomId
from server.rooms.media_ice import IcePolicy, configure_peer
from server.rooms.media_passthrough import EncodedFrame, install, mark_passthrough
from server.rooms.media_peers import RoomMedia
from server.settings import MediaSettings

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 20.0
CONNECT_TIMEOUT = 20.0


async def negotiate(
    pc: RTCPeerConnection, session: aiohttp.ClientSession, url: str, name: str, who: str
) -> None:
    """Offer ``pc`` to the server as ``who``'s ``name`` connection and apply its answer."""
    configure_peer(pc, loopback_policy())  # before gathering: aioice never offers loopback
    await pc.setLocalDescription(await pc.createOffer())
    payload = {"pc": name, "who": who, "sdp": pc.localDescription.sdp}
    async with session.post(url, json=payload) as response:
        body = await response.json()
        if response.status != 200:
            raise BenchError(f"{who}/{name}: server said {response.status}: {body.get('error')}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))


# --- the server -------------------------------------------------------------------------


class Relay(Protocol):
    async def answer(self, who: str, name: str, sdp: str) -> str: ...
    def stats(self) -> Message: ...
    async def close(self) -> None: ...


class ForwardRelay:
    """Salon's relay: encoded frames forwarded, no codec work."""

    def __init__(self) -> None:
        settings = MediaSettings(ice_addresses=LOOPBACK)
        self._media = RoomMedia(
            RoomId("loadtest"), IcePolicy.from_settings(settings), settings, lambda live, who: None
        )

    async def answer(self, who: str, name: str, sdp: str) -> str:
        return await self._media.answer(ParticipantId(who), name, sdp)  # type: ignore[arg-type]

    def stats(self) -> Message:
        return dict(self._media.stats())

    async def close(self) -> None:
        await self._media.close()


class TranscodeRelay:
    """aiortc's ``MediaRelay`` as its examples use it: decode once, encode per subscriber."""

    def __init__(self) -> None:
        self._policy = loopback_policy()
        self._relay = MediaRelay()
        self._sources: dict[str, MediaStreamTrack] = {}
        self._pcs: list[RTCPeerConnection] = []
        self._drains: list[asyncio.Task[None]] = []

    async def answer(self, who: str, name: str, sdp: str) -> str:
        pc = RTCPeerConnection(self._policy.rtc_configuration())
        self._pcs.append(pc)
        if name == "pub":
            pc.on("track", self._on_publisher_track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if name == "sub":
            for transceiver in pc.getTransceivers():
                source = self._sources.get(transceiver.kind)
                if source is None:
                    raise BenchError(f"{who}: no published {transceiver.kind} track yet")
                pc.addTrack(self._relay.subscribe(source))
        configure_peer(pc, self._policy)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def _on_publisher_track(self, track: MediaStreamTrack) -> None:
        self._sources[track.kind] = track
        # One always-present consumer (aiortc's examples use a MediaBlackhole): the decode
        # then costs the same with 0 subscribers as with N, and decoded frames do not pile
        # up in the receiver's unbounded queue while nobody reads them.
        drain = self._relay.subscribe(track, buffered=False)
        self._drains.append(asyncio.create_task(_drain(drain)))

    def stats(self) -> Message:
        return {"peer_connections": len(self._pcs), "sources": sorted(self._sources)}

    async def close(self) -> None:
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*(pc.close() for pc in self._pcs), return_exceptions=True)


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


async def _offer(relay: Relay, request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name, who, sdp = body["pc"], body["who"], body["sdp"]
        if name not in ("pub", "sub") or not isinstance(who, str) or not isinstance(sdp, str):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {pc: pub|sub, who, sdp}"}, status=400)
    try:
        answer = await relay.answer(who, name, sdp)
    except Exception as exc:  # the bot reports it to the orchestrator, which stops the run
        logger.warning("negotiation failed for %s/%s: %s", who, name, exc)
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
    return web.json_response({"sdp": answer})


async def run_server(conn: Connection, relay: str) -> None:
    room: Relay = ForwardRelay() if relay == "forward" else TranscodeRelay()
    app = web.Application()

    async def offer(request: web.Request) -> web.Response:
        return await _offer(room, request)

    async def stats(_: Message) -> Message:
        return {"ok": True, **room.stats()}

    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        conn.send({"ok": True, "port": sock.getsockname()[1]})
        await serve_commands(conn, stats)
    finally:
        await room.close()
        await runner.cleanup()
        sock.close()


# --- the publisher ----------------------------------------------------------------------


async def run_publisher(conn: Connection, url: str) -> None:
    video = PatternVideoTrack()
    pc = new_peer()
    pc.addTrack(ToneAudioTrack())
    pc.addTrack(video)
    prefer_forwarded_codecs(pc)

    async def stats(_: Message) -> Message:
        sent = sum(
            getattr(s, "bytesSent", 0)
            for s in (await pc.getStats()).values()
            if s.type == "outbound-rtp" and s.kind == "video"
        )
        return {
            "ok": True,
            "video_frames": video.frames_sent,
            "video_bytes": sent,
            "state": pc.connectionState,
        }

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT)) as s:
            await negotiate(pc, s, url, "pub", "host")
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await wait_connected(pc)
        except TimeoutError:
            raise BenchError(f"publisher not connected within {CONNECT_TIMEOUT:.0f}s") from None
        conn.send({"ok": True})
        await serve_commands(conn, stats)
    finally:
        await pc.close()


# --- the subscribers --------------------------------------------------------------------


class SubscriberBot:
    """One receive-only peer that counts encoded frames and bytes per kind, never decoding."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.pc = new_peer()
        for kind in ("audio", "video"):
            self.pc.addTransceiver(kind, direction="recvonly")
        prefer_forwarded_codecs(self.pc)
        self.counts = {"video_frames": 0, "video_bytes": 0, "audio_frames": 0, "audio_bytes": 0}
        self.decoded = False
        self.first_video = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        mark_passthrough(track)  # fired before the receiver starts its decoder thread
        self._tasks.append(asyncio.create_task(self._count(track)))

    async def _count(self, track: MediaStreamTrack) -> None:
        kind = track.kind
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, EncodedFrame):
                self.counts[f"{kind}_bytes"] += len(frame.data)
            else:
                self.decoded = True
            self.counts[f"{kind}_frames"] += 1
            if kind == "video":
                self.first_video.set()

    async def start(self, session: aiohttp.ClientSession, url: str) -> None:
        await negotiate(self.pc, session, url, "sub", self.who)
        try:
            await asyncio.wait_for(self.first_video.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            raise BenchError(
                f"{self.who}: no video within {CONNECT_TIMEOUT:.0f}s "
                f"(connection {self.pc.connectionState})"
            ) from None

    def snapshot(self) -> Message:
        return {
            "who": self.who,
            "state": self.pc.connectionState,
            "decoded": self.decoded,
            **self.counts,
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def run_subscribers(conn: Connection, url: str) -> None:
    install()  # subscriber bots forward nothing, but decoding would load the bots' core
    bots: list[SubscriberBot] = []
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def handle(message: Message) -> Message:
            if message["op"] == "add":
                new = [SubscriberBot(f"sub-{len(bots) + i}") for i in range(message["count"])]
                bots.extend(new)
                await asyncio.gather(*(bot.start(session, url) for bot in new))
                return {"ok": True, "subscribers": len(bots)}
            if message["op"] == "snap":
                return {"ok": True, "subscribers": [bot.snapshot() for bot in bots]}
            raise BenchError(f"unknown op {message['op']!r}")

        try:
            conn.send({"ok": True})
            await serve_commands(conn, handle)
        finally:
            await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
