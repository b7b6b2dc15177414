"""The processes of the fan-out benchmark: a relay server, a publisher bot, subscriber bots.

``benchmarks.fanout`` starts each of them with ``loadtest.procs.child_main`` in its own
process, so the server's CPU can be measured alone, and talks to it over a pipe
(``loadtest.procs``). The synthetic tracks are ``loadtest.synthetic``'s; the media bots of
``python -m loadtest run`` reuse the same tracks and peer set-up (``loadtest.rtc``).

- ``server``: one relay behind ``POST /offer {pc, who, sdp} -> {sdp}`` on 127.0.0.1:
  Salon's ``RoomMedia`` forwarding RTP packets (``packets``) or encoded frames
  (``frames``), or aiortc's transcoding ``MediaRelay`` set up as in aiortc's examples
  (``transcode``: the publisher's track is decoded; every subscriber gets
  ``relay.subscribe(track)`` and so its own encoder). On the packet path it also times
  each packet's fan-out (``latency``).
- ``publisher``: one aiortc peer sending 640x480 video at 30 fps whose content keeps
  changing (a moving gradient plus a moving noise patch) and a tone on Opus.
- ``subscribers``: aiortc peers whose RTP goes straight to a counter of packets and
  complete frames (no jitter buffer, no decoding); ``benchmarks.fanout`` runs several such
  processes.

Everything binds 127.0.0.1 only and uses no STUN/TURN server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import socket
import time
from multiprocessing.connection import Connection
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from benchmarks.janus_api import JanusSession, publish, publisher_feed, subscribe
from loadtest.procs import BenchError, Message, serve_commands
from loadtest.rtc import (
    LOOPBACK,
    configure_peer,
    loopback_policy,
    new_peer,
    prefer_forwarded_codecs,
    wait_connected,
)
from loadtest.rtc_compat import patient_consent
from loadtest.synthetic import PatternVideoTrack, ToneAudioTrack
from server.ids import ParticipantId, RoomId
from server.media.aiortc_compat import ReceiverTap
from server.media.feed import PacketFeed
from server.media.ice import IcePolicy
from server.media.peers import RoomMedia
from server.settings import MediaSettings

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 45.0  # a loaded relay took over 20 s to answer the 98th subscriber's offer
CONNECT_TIMEOUT = 20.0
STAMPS = 1200  # frames remembered for the end-to-end latency: 40 s of video
JOIN_BATCH = 5  # subscribers of one bot process that join at once
JOIN_ATTEMPTS = 2
# The benchmark's processes (bots and the Python relays) give up after this many
# unanswered consent checks (~5 s apart) instead of aioice's 6, each lost if not answered
# in 0.5 s (``loadtest.rtc_compat.patient_consent``): on a loaded 2-core machine the
# publisher, starved of CPU, answered late for 30 s and lost its connection at N ~ 45.
CONSENT_FAILURES = 24


async def negotiate(
    pc: RTCPeerConnection, session: aiohttp.ClientSession, url: str, name: str, who: str
) -> None:
    """Offer ``pc`` to the server as ``who``'s ``name`` connection and apply its answer."""
    configure_peer(pc, loopback_policy())  # before gathering: aioice never offers loopback
    await pc.setLocalDescription(await pc.createOffer())
    payload = {"pc": name, "who": who, "sdp": pc.localDescription.sdp}
    try:
        async with session.post(url, json=payload) as response:
            body = await response.json()
    except TimeoutError:  # a join that is retried (``run_subscribers``)
        raise BenchError(f"{who}/{name}: no answer within {HTTP_TIMEOUT:.0f}s") from None
    if response.status != 200:
        raise BenchError(f"{who}/{name}: server said {response.status}: {body.get('error')}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))


# --- the server -------------------------------------------------------------------------


class Relay(Protocol):
    async def answer(self, who: str, name: str, sdp: str) -> str: ...
    def stats(self) -> Message: ...
    def latency(self) -> Message: ...
    async def close(self) -> None: ...


class FanoutTimes:
    """Per packet on the packet path: seconds from the handler's entry to the last
    subscriber's ``sendto``, and how many subscribers it went to."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.cpu = 0.0  # CPU seconds the sampled fan-outs took (this thread), their sends
        self.sends = 0

    def __call__(self, seconds: float, sends: int, cpu: float = -1.0) -> None:
        if sends:
            self.samples.append((seconds, sends))
            if cpu >= 0:
                self.cpu += cpu
                self.sends += sends

    def take(self) -> Message:
        """Percentiles (µs) of the added latency per subscriber since the last call.

        Subscribers are served in turn, so the k-th of n waits about k/n of the fan-out:
        each packet contributes n points spread evenly up to its measured fan-out time.
        ``cpu_per_send_us``: the server thread's CPU time per send in the fan-outs whose
        CPU time was measured (one packet in ``feed.CPU_SAMPLE``).
        """
        samples, self.samples = self.samples, []
        cpu, sends, self.cpu, self.sends = self.cpu, self.sends, 0.0, 0
        points = sorted(d * (k + 1) / n for d, n in samples for k in range(n))
        if not points:
            return {}

        def pick(q: float) -> float:
            return round(points[min(len(points) - 1, int(q * len(points)))] * 1e6, 1)

        found = {"p50_us": pick(0.50), "p95_us": pick(0.95), "p99_us": pick(0.99)}
        if cpu > 0:
            found["cpu_per_send_us"] = round(cpu / sends * 1e6, 2)
        return found


class ForwardRelay:
    """Salon's relay, forwarding RTP packets or (``frames``) encoded frames; no codec work."""

    def __init__(self, forwarding: str) -> None:
        settings = MediaSettings(ice_addresses=LOOPBACK, forwarding=forwarding)
        self._media = RoomMedia(
            RoomId("loadtest"), IcePolicy.from_settings(settings), settings, lambda live, who: None
        )
        self._times = FanoutTimes()
        for feed in self._media.feeds.values():
            if isinstance(feed, PacketFeed):
                feed.on_fanout = self._times

    async def answer(self, who: str, name: str, sdp: str) -> str:
        return await self._media.answer(ParticipantId(who), name, sdp)  # type: ignore[arg-type]

    def stats(self) -> Message:
        return dict(self._media.stats())

    def latency(self) -> Message:
        return self._times.take()

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

    def latency(self) -> Message:
        return {}  # not instrumented: aiortc's receive and send paths

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
    # The relay's side of each connection is as patient as the bots' (see CONSENT_FAILURES):
    # what is measured is forwarding, and Janus (libnice) retransmits its consent checks.
    patient_consent(CONSENT_FAILURES)
    room: Relay = TranscodeRelay() if relay == "transcode" else ForwardRelay(relay)
    app = web.Application()

    async def offer(request: web.Request) -> web.Response:
        return await _offer(room, request)

    async def stats(message: Message) -> Message:
        if message.get("op") == "latency":
            return {"ok": True, **room.latency()}
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


class StampedVideoTrack(PatternVideoTrack):
    """The publisher's video, each frame's capture time kept by its RTP timestamp.

    Every relay shifts the publisher's timestamps by a constant of its own (and keeps
    their differences), so the subscriber's timestamps are matched to these by their
    pattern: each frame's pts is moved by a random 0-89 ticks (< 1 ms at 90 kHz), which
    makes the sequence of differences unique (``fanout_report.frame_latencies``).
    Times are ``time.monotonic()``: CLOCK_MONOTONIC, one clock for every process here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._jitter = random.Random(12)
        self.stamps: collections.deque[tuple[int, float]] = collections.deque(maxlen=STAMPS)

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        frame.pts = (frame.pts or 0) + self._jitter.randrange(90)
        self.stamps.append((frame.pts, time.monotonic()))
        return frame


async def run_publisher(conn: Connection, url: str, janus: bool = False) -> None:
    """The publisher bot: offers to Salon's ``/offer`` at ``url``, or publishes in the
    Janus VideoRoom whose API is ``url`` (``janus``)."""
    patient_consent(CONSENT_FAILURES)
    video = StampedVideoTrack()
    pc = new_peer()

    @pc.on("connectionstatechange")
    def _changed() -> None:
        if pc.connectionState in ("failed", "closed", "disconnected"):
            logger.warning("publisher connection %s", pc.connectionState)

    pc.addTrack(ToneAudioTrack())
    pc.addTrack(video)
    prefer_forwarded_codecs(pc)

    async def stats(message: Message) -> Message:
        if message.get("op") == "stamps":
            return {"ok": True, "stamps": list(video.stamps)}
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

    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        session = JanusSession(http, url) if janus else None
        try:
            if session is not None:
                await session.open()
                await publish(session, pc, lambda: configure_peer(pc, loopback_policy()))
            else:
                await negotiate(pc, http, url, "pub", "host")
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await wait_connected(pc)
            except TimeoutError:
                raise BenchError(f"publisher not connected within {CONNECT_TIMEOUT:.0f}s") from None
            conn.send({"ok": True})
            await serve_commands(conn, stats)
        finally:
            await pc.close()
            if session is not None:
                await session.close()


# --- the subscribers --------------------------------------------------------------------


class FrameCounter:
    """Counts one stream's RTP packets, bytes and complete frames (every packet of a
    timestamp, in sequence, up to the marker), with no jitter buffer and no decoding."""

    def __init__(self, kind: str, counts: dict[str, int], first: asyncio.Event) -> None:
        # (RTP timestamp, time.monotonic()) of each complete video frame, until taken.
        self.arrivals: collections.deque[tuple[int, float]] = collections.deque(maxlen=STAMPS)
        self._kind = kind
        self._counts = counts
        self._first = first
        self._last_seq: int | None = None
        self._ts: int | None = None
        self._whole = False

    def __call__(self, packet: Any, arrival_time_ms: int) -> None:
        kind, counts = self._kind, self._counts
        counts[f"{kind}_packets"] += 1
        counts[f"{kind}_bytes"] += len(packet.payload)
        in_order = self._last_seq is None or packet.sequence_number == (self._last_seq + 1) & 0xFFFF
        self._last_seq = packet.sequence_number
        if packet.timestamp != self._ts:
            self._ts = packet.timestamp
            self._whole = True  # a frame starts (a lost first packet shows as a gap below)
        else:
            self._whole = self._whole and in_order
        if packet.marker or kind == "audio":
            if self._whole:
                counts[f"{kind}_frames"] += 1
                if kind == "video":
                    self.arrivals.append((packet.timestamp, time.monotonic()))
                    self._first.set()
            self._ts = None


class SubscriberBot:
    """One receive-only peer counting RTP packets and complete frames per kind.

    Its receivers' RTP goes straight to a ``FrameCounter``: aiortc's jitter buffer,
    depacketizer and decoder never run, so a bot costs little next to the server.
    It offers to Salon's relays (``start``) or answers Janus's offer (``start_janus``).
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.pc = new_peer()
        self.counts = {
            f"{kind}_{what}": 0
            for kind in ("video", "audio")
            for what in ("frames", "bytes", "packets")
        }
        self.decoded = False
        self.first_video = asyncio.Event()
        self.video: FrameCounter | None = None

    def _tap(self) -> None:
        """Count each transceiver's RTP (once its transceivers exist, before ICE)."""
        prefer_forwarded_codecs(self.pc)
        for transceiver in self.pc.getTransceivers():
            counter = FrameCounter(transceiver.kind, self.counts, self.first_video)
            if transceiver.kind == "video":
                self.video = counter
            ReceiverTap(transceiver.receiver).install(counter, _ignore_rtcp)

    async def start(self, session: aiohttp.ClientSession, url: str) -> None:
        for kind in ("audio", "video"):
            self.pc.addTransceiver(kind, direction="recvonly")
        self._tap()
        await negotiate(self.pc, session, url, "sub", self.who)
        await self._first_frame()

    async def start_janus(self, session: JanusSession, feed: int) -> None:
        def ready() -> None:
            self._tap()
            configure_peer(self.pc, loopback_policy())

        await subscribe(session, self.pc, feed, ready)
        await self._first_frame()

    async def _first_frame(self) -> None:
        try:
            await asyncio.wait_for(self.first_video.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            raise BenchError(
                f"{self.who}: no whole video frame within {CONNECT_TIMEOUT:.0f}s "
                f"(connection {self.pc.connectionState}, {self.counts['video_packets']} video"
                f" and {self.counts['audio_packets']} audio packets)"
            ) from None

    def arrivals(self) -> list[tuple[int, float]]:
        """The complete video frames' (timestamp, arrival) since the last call."""
        if self.video is None:
            return []
        taken = list(self.video.arrivals)
        self.video.arrivals.clear()
        return taken

    def snapshot(self) -> Message:
        return {
            "who": self.who,
            "state": self.pc.connectionState,
            "decoded": self.decoded,
            **self.counts,
        }

    async def close(self) -> None:
        await self.pc.close()


def _ignore_rtcp(packet: Any) -> None:
    pass


async def run_subscribers(
    conn: Connection, url: str, prefix: str = "sub", janus: bool = False
) -> None:
    """A process of subscriber bots. ``add`` starts ``count`` more, ``JOIN_BATCH`` at a
    time, each batch once the previous one receives video: 25 ICE and DTLS handshakes at
    once on a busy core made joins time out and starved the publisher's connection. A
    bot whose connection came up but got no whole video frame in ``CONNECT_TIMEOUT``
    (seen once in a few runs at N = 50 on a loaded machine: connected, not one packet)
    joins again on a new connection, up to ``JOIN_ATTEMPTS`` in all; ``add`` says how
    many joins were retried so far, and the orchestrator prints it."""
    patient_consent(CONSENT_FAILURES)
    bots: list[SubscriberBot] = []
    retried: list[str] = []
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        session = JanusSession(http, url) if janus else None
        feed = 0

        async def start(bot: SubscriberBot) -> SubscriberBot:
            for attempt in range(1, JOIN_ATTEMPTS + 1):
                try:
                    if session is None:
                        await bot.start(http, url)
                    else:
                        await bot.start_janus(session, feed)
                    return bot
                except BenchError as exc:
                    await bot.close()
                    if attempt == JOIN_ATTEMPTS:
                        raise
                    logger.warning("%s; joining again on a new connection", exc)
                    retried.append(bot.who)
                    bot = SubscriberBot(bot.who)
            raise AssertionError("unreachable")

        async def handle(message: Message) -> Message:
            if message["op"] == "add":
                names = [f"{prefix}-{len(bots) + i}" for i in range(message["count"])]
                for first in range(0, len(names), JOIN_BATCH):
                    batch = [SubscriberBot(who) for who in names[first : first + JOIN_BATCH]]
                    bots.extend(await asyncio.gather(*(start(bot) for bot in batch)))
                return {"ok": True, "subscribers": len(bots), "retried": len(retried)}
            if message["op"] == "snap":
                return {"ok": True, "subscribers": [bot.snapshot() for bot in bots]}
            if message["op"] == "arrivals":  # with "drop": forgotten, not sent
                taken = [bot.arrivals() for bot in bots]
                return {"ok": True, "arrivals": [] if message.get("drop") else taken}
            raise BenchError(f"unknown op {message['op']!r}")

        try:
            if session is not None:
                await session.open()
                feed = await publisher_feed(session)
            conn.send({"ok": True})
            await serve_commands(conn, handle)
        finally:
            await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
            if session is not None:
                await session.close()
