"""Media bots: subscribers that count without decoding, and publishers (host, speakers).

A ``MediaBot`` is a member whose ``sub`` peer connection receives the host's audio and
video and one m-line per stage slot (it re-offers on every ``tracks`` message, as the
room page does). It never decodes. A tap before aiortc's receive path
(``rtc_compat.tap_rtp``) counts RTP packets per SSRC: received, expected from sequence
numbers (so lost), retransmissions, and RFC 3550 interarrival jitter. Then, by
``media.receive``:

- ``frames``: aiortc's receive path goes on (NACKs, jitter buffer) into receivers that
  hand out frames undecoded (``rtc_compat.count_without_decoding``, installed by the
  worker process), and the bot counts the frames ``track.recv()`` returns;
- ``packets``: the hook is the whole receive path: frames are counted from RTP marker
  bits (one per audio packet), nothing is reassembled and no NACK is sent, so losses are
  the network's as they happened. About half the CPU per packet: for a hundred bots on
  one core.

A ``Publisher`` publishes on the ``pub`` connection: the host's synthetic (or file)
video and a tone, or a speaker's tone alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from loadtest.client import Client
from loadtest.rtc import (
    IcePolicy,
    configure_peer,
    new_peer,
    policy_for,
    prefer_forwarded_codecs,
    wait_connected,
)
from loadtest.rtc_compat import UndecodedFrame, tap_rtp
from loadtest.synthetic import ToneAudioTrack, media_source

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 20.0
CLOCK_RATES = {"audio": 48000, "video": 90000}


def bot_policy(client: Client) -> IcePolicy:
    host = urlsplit(client.env.ws_url).hostname or ""
    return policy_for(host, client.joined.get("ice_servers"))


class RtpCounter:
    """Packets of one receiver: the first SSRC seen is the media, later ones are RTX."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.clock = CLOCK_RATES[kind]
        self.ssrc: int | None = None
        self.base: int | None = None
        self.highest = 0  # extended sequence number
        self.received = 0
        self.rtx = 0
        self.bytes = 0
        self.jitter = 0.0  # RTP clock units (RFC 3550 §6.4.1)
        self._transit: float | None = None

    def add(self, ssrc: int, seq: int, timestamp: int, size: int) -> bool:
        """Count one packet; False for a retransmission (another SSRC)."""
        self.bytes += size
        if self.ssrc is None:
            self.ssrc = ssrc
        elif ssrc != self.ssrc:
            self.rtx += 1
            return False
        self.received += 1
        if self.base is None:
            self.base = self.highest = seq
        else:
            # Extend the 16-bit sequence number around the last one seen.
            ext = self.highest + ((seq - self.highest + 0x8000) & 0xFFFF) - 0x8000
            self.highest = max(self.highest, ext)
        transit = time.monotonic() * self.clock - timestamp
        if self._transit is not None:
            self.jitter += (abs(transit - self._transit) - self.jitter) / 16
        self._transit = transit
        return True

    @property
    def expected(self) -> int:
        return 0 if self.base is None else self.highest - self.base + 1

    @property
    def lost(self) -> int:
        # Retransmissions repair losses; count them as received (duplicates are rare).
        return max(0, self.expected - self.received - self.rtx)

    @property
    def jitter_ms(self) -> float:
        return self.jitter / self.clock * 1000


def count_packet(counter: RtpCounter) -> Callable[[RtpPacket], None]:
    """A tap that counts each RTP packet in ``counter``."""

    def seen(packet: RtpPacket) -> None:
        counter.add(packet.ssrc, packet.sequence_number, packet.timestamp, len(packet.payload))

    return seen


class MediaBot:
    """The media side of one member: a ``sub`` connection that counts what it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pc: RTCPeerConnection | None = None
        self.counters: list[RtpCounter] = []
        self.frames = {"audio": 0, "video": 0}
        self.first_frame = False
        self._keyframe_started = False
        self.publisher: Publisher | None = None
        self._lock = asyncio.Lock()
        self._slots = {"audio": 0, "video": 0}
        client.on("tracks", self._tracks)
        client.on("role", self._role)

    async def start(self) -> None:
        tracks = self.client.joined.get("tracks") or {}
        self._slots = {k: len(tracks.get(k) or []) for k in ("audio", "video")}
        policy = bot_policy(self.client)
        self.pc = pc = new_peer(policy)
        pc.on("track", lambda track: self._on_track(pc, track))
        await self._negotiate(policy)

    async def _negotiate(self, policy: IcePolicy | None = None) -> None:
        async with self._lock:
            pc = self.pc  # None once closed: the bot is leaving
            if pc is None or self.client.state != "joined" or pc.signalingState == "closed":
                return
            for kind in ("audio", "video"):
                have = sum(1 for t in pc.getTransceivers() if t.kind == kind)
                for _ in range(have, 1 + self._slots[kind]):
                    pc.addTransceiver(kind, direction="recvonly")
            prefer_forwarded_codecs(pc)
            configure_peer(pc, policy or bot_policy(self.client))
            await pc.setLocalDescription(await pc.createOffer())
            reply = await self.client.request(
                {"type": "offer", "pc": "sub", "sdp": pc.localDescription.sdp}, "offer"
            )
            if reply is None or reply.get("type") != "answer" or pc.signalingState == "closed":
                self.client.rec.count("media:negotiation_failed")
                return
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
        counter = RtpCounter(track.kind)
        self.counters.append(counter)
        if self.client.env.scenario.media.receive == "packets":
            tap_rtp(receiver, self._packets_only(counter), replace=True)
        else:
            tap_rtp(receiver, count_packet(counter))
            self.client.spawn(self._count(track), "count")

    def _packets_only(self, counter: RtpCounter) -> Callable[[RtpPacket], None]:
        """A receive path that only counts: frames end on a marker bit (every audio packet)."""
        kind = counter.kind

        def handle(packet: RtpPacket) -> None:
            payload = packet.payload
            if not counter.add(packet.ssrc, packet.sequence_number, packet.timestamp, len(payload)):
                return
            if kind == "audio":
                self.frames["audio"] += 1
            elif not self.first_frame:
                self._await_keyframe(payload, packet.marker)
            elif packet.marker:
                self.frames["video"] += 1

        return handle

    def _await_keyframe(self, payload: bytes, marker: int) -> None:
        """Before the first video frame: wait for a keyframe's start, then its end."""
        if not self._keyframe_started:
            try:
                descriptor, data = VpxPayloadDescriptor.parse(payload)
            except ValueError:
                return
            start = descriptor.partition_start and descriptor.partition_id == 0
            self._keyframe_started = bool(start and data and data[0] & 0x01 == 0)
        if self._keyframe_started and marker:
            self.frames["video"] += 1
            self._first_video_frame()

    async def _count(self, track: MediaStreamTrack) -> None:
        kind = track.kind
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, UndecodedFrame):
                self.client.rec.count("media:decoded_frames")
            self.frames[kind] += 1
            if kind == "video" and not self.first_frame:
                self._first_video_frame()

    def _first_video_frame(self) -> None:
        self.first_frame = True
        self.client.rec.latency("first_frame", (time.monotonic() - self.client.opened_at) * 1000)

    def _tracks(self, message: dict[str, Any]) -> None:
        self._slots = {k: len(message.get(k) or []) for k in ("audio", "video")}
        if self.pc is not None:
            self.client.spawn(self._negotiate(), "renegotiate")

    def _role(self, message: dict[str, Any]) -> None:
        participant = message.get("participant", {})
        if participant.get("id") != self.client.pid:
            return
        if not self.client.env.scenario.stage.publish:
            return
        if participant.get("role") == "speaker" and self.publisher is None:
            self.publisher = Publisher(self.client, video=False)
            self.client.spawn(self.publisher.start(), "publish")
        elif participant.get("role") == "member" and self.publisher is not None:
            publisher, self.publisher = self.publisher, None
            self.client.spawn(publisher.close(), "unpublish")

    def gauges(self) -> dict[str, float]:
        video = [c for c in self.counters if c.kind == "video"]
        return {
            "media": 1,
            "receiving": float(self.frames["video"] > 0),
            "packets": sum(c.received + c.rtx for c in self.counters),
            "expected": sum(c.expected for c in self.counters),
            "lost": sum(c.lost for c in self.counters),
            "rtx": sum(c.rtx for c in self.counters),
            "bytes": sum(c.bytes for c in self.counters),
            "video_frames": self.frames["video"],
            "audio_frames": self.frames["audio"],
            "jitter_ms": video[0].jitter_ms if video else 0.0,
        }

    async def close(self) -> None:
        """Close the peer connections (the client cancels this bot's tasks as it leaves)."""
        pc, self.pc = self.pc, None
        publisher, self.publisher = self.publisher, None
        if publisher is not None:
            await publisher.close()
        if pc is not None:
            async with self._lock:  # not in the middle of a renegotiation
                await pc.close()


class Publisher:
    """Publishes on ``pub``: video and audio for the host, a tone for a speaker."""

    def __init__(self, client: Client, video: bool = True) -> None:
        self.client = client
        self.video = video
        self.pc: RTCPeerConnection | None = None
        self.live = False

    async def start(self) -> bool:
        host = self.client.env.scenario.host
        policy = bot_policy(self.client)
        self.pc = pc = new_peer(policy)
        if self.video:
            video, audio = media_source(
                host.video, host.width, host.height, host.audio, host.max_kbps
            )
        else:
            video, audio = None, ToneAudioTrack()
        for track in (audio, video):
            if track is not None:
                pc.addTrack(track)
        prefer_forwarded_codecs(pc)
        configure_peer(pc, policy)
        await pc.setLocalDescription(await pc.createOffer())
        reply = await self.client.request(
            {"type": "offer", "pc": "pub", "sdp": pc.localDescription.sdp}, "publish"
        )
        if reply is None or reply.get("type") != "answer":
            self.client.rec.count("media:publish_failed")
            return False
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await wait_connected(pc)
        except (TimeoutError, RuntimeError):
            self.client.rec.count("media:publish_failed")
            return False
        self.live = True
        self.client.rec.count("media:published")
        return True

    def gauges(self) -> dict[str, float]:
        return {"publishing": float(self.live)}

    async def close(self) -> None:
        if self.live:
            self.live = False
            await self.client.send({"type": "stop", "pc": "pub"})
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
