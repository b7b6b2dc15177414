"""A published track forwarded packet by packet: ``PacketFeed``.

A feed is a room's media slot of one kind ("the host's video"), fed by at most one
publisher's receiver at a time. Each RTP packet is taken from the receiver right after
SRTP unprotect (``ReceiverTap``: aiortc keeps its receiver reports and NACKs for the
server's own loss, but no jitter buffer, depacketizer or decoder runs), parsed once
(``InPacket``), kept in a small cache for subscribers' NACKs, and handed to every
subscriber's ``PacketSink``. The outgoing packet is built once per subscriber shape
(layout and mid), not once per subscriber: per subscriber, only sequence number,
timestamp and SSRC are written into the SRTP buffer (``SrtpOut.send_stamped``); the
subscribers in the steady state get theirs from one C call per packet and shape
(``FastGroup``, grouped in the fan-out's plan, made again when a sink joins, leaves or
changes path).

It also owes the publisher: key frame requests (PLI, throttled) for new, lagging or
asking subscribers, and REMB: the lowest of its subscribers' recent REMBs and the
server's own estimate, bounded. A muted feed drops packets here, before any subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from server.ids import ParticipantId
from server.media.aiortc_compat import (
    FastGroup,
    FastOut,
    Outgoing,
    ReceiverTap,
    SrtpProtectError,
)
from server.media.counters import MediaCounters
from server.media.keyframes import Keyframer
from server.media.levels import LevelMeter
from server.media.rtp_rewrite import InPacket, Vp8Info
from server.media.sink import PacketSink

logger = logging.getLogger(__name__)

# Packets kept per video feed for NACKs: about 1.5 s at 2.5 Mbit/s.
CACHE_PACKETS = 512
# A subscriber's REMB counts for this long after it was received.
REMB_TTL = 5.0
# Seconds between two REMBs to the publisher, unless the bound drops by a tenth.
REMB_INTERVAL = 1.0
# One packet in this many has its fan-out's CPU time measured for ``on_fanout``.
CPU_SAMPLE = 8

# The fan-out's plan: the sinks the C path serves, one group per shape, and the others.
Groups = tuple[tuple[str, FastGroup[PacketSink]], ...]
Plan = tuple[Groups, tuple[PacketSink, ...]]


class PacketCache:
    """The last ``size`` packets of one publisher's stream, by sequence number."""

    __slots__ = ("_packets", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._packets: list[InPacket | None] = [None] * size

    def put(self, packet: InPacket) -> None:
        self._packets[packet.seq % self._size] = packet

    def get(self, seq: int) -> InPacket | None:
        packet = self._packets[seq % self._size]
        return packet if packet is not None and packet.seq == seq else None


class PacketFeed(LevelMeter):
    """A room's media slot of one kind, forwarded as RTP packets."""

    def __init__(
        self,
        kind: str,
        keyframe_interval: float = 0.5,
        publisher: ParticipantId | None = None,
        lag_bytes: int = 96_000,
        remb_bounds: tuple[int, int] = (150_000, 2_500_000),
        counters: MediaCounters | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        # The process's totals (``/metrics``); this feed's own figures follow below.
        self.counters = counters if counters is not None else MediaCounters()
        self._publisher = publisher
        self._keyframe_interval = keyframe_interval
        self._lag_bytes = lag_bytes
        self._remb_bounds = remb_bounds
        self._sinks: set[PacketSink] = set()
        self._targets: tuple[PacketSink, ...] | None = None
        # Made again when a sink joins, leaves or changes path.
        self._plan: Plan | None = None
        self._source: MediaStreamTrack | None = None
        self._tap: ReceiverTap | None = None
        self._cache = PacketCache(CACHE_PACKETS if kind == "video" else 1)
        self._keyframer: Keyframer | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._media_ssrc: int | None = None
        self._muted_gap = False
        self._remb: dict[PacketSink, tuple[int, float]] = {}
        self._remb_sent: tuple[int, float] = (0, -1e9)
        self.remb_reports = 0  # subscribers' REMBs received
        self.remb_sent = 0  # REMBs sent to the publisher
        self.on_source_ended: Callable[[], None] | None = None
        self.frames_in = 0
        self.packets_in = 0
        self.frames_muted = 0
        # What went out to subscribers (``/metrics``: forwarded media).
        self.frames_out = 0
        self.bytes_out = 0
        self.packets_out = 0
        # Optional (the benchmark's): called after each packet's fan-out with the seconds
        # it took, the sends, and, for one packet in ``CPU_SAMPLE``, the CPU seconds this
        # thread spent on it (-1.0 for the others): unlike the wall time, not inflated when
        # the machine preempts the server. Reading the thread's CPU clock is a system call
        # (~9 µs on this VM), hence the sampling.
        self.on_fanout: Callable[[float, int, float], None] | None = None
        # Optional: the recording tap (``server/media/recorder.py``), called with every
        # packet that is forwarded; it must only queue the packet, never work on it here.
        self.on_packet: Callable[[InPacket], None] | None = None

    # --- who feeds it, who reads it ---------------------------------------------------

    @property
    def publisher(self) -> ParticipantId | None:
        return self._publisher

    @publisher.setter
    def publisher(self, who: ParticipantId | None) -> None:
        self._publisher = who
        self._targets = None

    @property
    def live(self) -> bool:
        return self._source is not None

    @property
    def subscriber_count(self) -> int:
        return len(self._sinks)

    @property
    def subscribers(self) -> tuple[PacketSink, ...]:
        return tuple(self._sinks)

    def subscribe(self, owner: ParticipantId | None = None) -> PacketSink:
        sink = PacketSink(self, self.kind, owner, self._lag_bytes, self.counters)
        self.adopt(sink)
        return sink

    def outlet(self, owner: ParticipantId | None) -> PacketSink:
        """A sink on no feed yet (a stage slot nobody occupies)."""
        return PacketSink(None, self.kind, owner, self._lag_bytes, self.counters)

    def adopt(self, sink: PacketSink) -> None:
        self._sinks.add(sink)
        self._targets = None
        if self.live:
            self.request_keyframe()

    def unsubscribe(self, sink: PacketSink) -> None:
        self._sinks.discard(sink)
        self._remb.pop(sink, None)
        self._targets = None

    def _fan_targets(self) -> tuple[PacketSink, ...]:
        # Never hand a publisher its own media back.
        targets = self._targets
        if targets is None:
            me = self._publisher
            targets = tuple(s for s in self._sinks if s.owner is None or s.owner != me)
            self._targets = targets
            self._plan = None
        return targets

    def fast_changed(self) -> None:
        """A sink moved onto or off the C path."""
        self._plan = None

    def _fan_plan(self) -> Plan:
        targets = self._fan_targets()
        plan = self._plan
        if plan is None:
            by_shape: dict[str, list[tuple[PacketSink, FastOut]]] = {}
            slow: list[PacketSink] = []
            for sink in targets:
                if sink.fast is not None and sink.shape is not None:
                    by_shape.setdefault(sink.shape, []).append((sink, sink.fast))
                else:
                    slow.append(sink)
            groups = tuple((shape, FastGroup(members)) for shape, members in by_shape.items())
            plan = self._plan = (groups, tuple(slow))
        return plan

    def attach(self, source: MediaStreamTrack, receiver: RTCRtpReceiver) -> None:
        """Forward ``receiver``'s packets from now on; a previous source is detached."""
        self.detach()
        self._source = source
        self._tap = tap = ReceiverTap(receiver, self.counters.count_failure)
        self._cache = PacketCache(CACHE_PACKETS if self.kind == "video" else 1)
        self._media_ssrc = None
        tap.install(self._on_rtp, self._on_rtcp)
        self._keyframer = Keyframer(self._send_pli, self._keyframe_interval)
        for sink in self._sinks:
            sink.source_changed()
        self._watch_task = self.counters.watch(
            asyncio.create_task(self._watch(source), name=f"feed-{self.kind}"),
            f"watching the {self.kind} feed's publisher track",
        )

    def detach(self, source: MediaStreamTrack | None = None) -> None:
        """Stop forwarding (only ``source``, when given and still current)."""
        if source is not None and source is not self._source:
            return
        if self._watch_task is not None:
            self._watch_task.cancel()
            self._watch_task = None
        if self._keyframer is not None:
            self._keyframer.cancel()
            self._keyframer = None
        if self._tap is not None:
            self._tap.close()
            self._tap = None
        self._source = None

    async def _watch(self, source: MediaStreamTrack) -> None:
        # aiortc ends the receiver's track when the publisher says BYE or the connection
        # closes; nothing else ever arrives on it (no decoder runs on the packet path).
        try:
            while True:
                await source.recv()
        except MediaStreamError:
            logger.debug("feed %s: publisher track ended", self.kind)
        if self._source is source:
            self._watch_task = None
            self.detach()
            if self.on_source_ended is not None:
                self.on_source_ended()

    # --- the publisher's packets ------------------------------------------------------

    def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        tap = self._tap
        if tap is None:
            return
        media = tap.media_packet(packet, arrival_time_ms)
        if media is None or not media.payload:
            return  # padding-only probes and unknown payload types go no further
        counters = self.counters
        self.packets_in += 1
        counters.packets_in += 1
        video = self.kind == "video"
        if media.marker or not video:
            self.frames_in += 1
            counters.frames_in += 1
        self._media_ssrc = media.ssrc
        ext = media.extensions
        level = ext.audio_level
        if level is not None:
            self.note_level(level[1])
        if self.muted:
            # Muted by the host or by themself: nothing leaves the server.
            if media.marker or not video:
                self.frames_muted += 1
            if not self._muted_gap:
                self._muted_gap = True
                for sink in self._sinks:
                    sink.gap()
            return
        self._muted_gap = False
        payload = media.payload
        vp8 = Vp8Info.parse(payload) if video else None
        parsed = InPacket(
            media.sequence_number,
            media.timestamp,
            media.marker,
            payload,
            vp8,
            level,
            ext.abs_send_time,
        )
        if video:
            self._cache.put(parsed)
            if tap.estimate is not None:
                self._send_remb(False)
        self._fan_out(parsed)
        if self.on_packet is not None:
            self.on_packet(parsed)

    def _fan_out(self, packet: InPacket) -> None:
        timed = self.on_fanout is not None
        cpu = time.thread_time() if timed and self.packets_in % CPU_SAMPLE == 0 else -1.0
        started = time.perf_counter()
        cache = self._cache
        templates: dict[str, bytes] = {}
        sent = 0
        groups, slow = self._fan_plan()
        if groups:
            sent, slow = self._fan_out_fast(packet, groups, slow, templates, started)
        last_shape: str | None = None
        template = b""
        for sink in slow:
            shape = sink.shape
            if shape is not last_shape:  # most subscribers share one shape: no lookup
                if shape is None:
                    continue  # its sender has not started
                found = templates.get(shape)
                if found is None:
                    found = templates[shape] = sink.template(packet)
                last_shape, template = shape, found
            sent += sink.forward(packet, template, started, cache)
        if sent:
            counters = self.counters
            size = sent * len(packet.payload)
            self.packets_out += sent
            counters.packets_out += sent
            self.bytes_out += size
            counters.bytes_out += size
            if packet.marker or self.kind == "audio":
                self.frames_out += sent
                counters.frames_out += sent
        if timed and self.on_fanout is not None:
            seconds = time.perf_counter() - started
            self.on_fanout(seconds, sent, time.thread_time() - cpu if cpu >= 0 else -1.0)

    def _fan_out_fast(
        self,
        packet: InPacket,
        groups: Groups,
        slow: tuple[PacketSink, ...],
        templates: dict[str, bytes],
        now: float,
    ) -> tuple[int, tuple[PacketSink, ...]]:
        """The C path's share of ``packet``: what it sent, and the sinks left to Python."""
        marks = packet.vp8.marks() if packet.vp8 is not None else None
        sent = 0
        refused: list[PacketSink] = []
        failure: SrtpProtectError | None = None
        for shape, group in groups:
            template = templates.get(shape)
            if template is None:
                template = templates[shape] = group.owners[0].template(packet)
            outgoing = Outgoing(template, len(packet.payload), packet.seq, packet.ts, now, marks)
            done = group.send(outgoing)
            if done < 0:  # too long for the C path: Python says why
                for sink in group.owners:
                    sink.leave_fast()
                refused += group.owners
                continue
            sent += done
            if group.failed:
                for sink, _ in group.failures():
                    try:
                        sent += sink.fast_failed(packet, outgoing, now, self._cache)
                    except SrtpProtectError as exc:
                        failure = exc
        if failure is not None:
            raise failure
        return sent, slow + tuple(refused) if refused else slow

    def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == self._media_ssrc:
            info = packet.sender_info
            for sink in self._fan_targets():
                sink.send_report(info.ntp_timestamp, info.rtp_timestamp, self._cache)

    def cached(self, source: object, seq: int) -> InPacket | None:
        """Packet ``seq`` of ``source`` (a cache handed to sinks), if still kept."""
        return self._cache.get(seq) if source is self._cache else None

    # --- what the feed owes its publisher --------------------------------------------

    def request_keyframe(self) -> None:
        if self._keyframer is not None and self.kind == "video":
            self._keyframer.request()

    def _send_pli(self) -> None:
        if self._tap is not None and self._media_ssrc is not None:
            self.counters.keyframe_requests += 1
            self._tap.send_pli(self._media_ssrc)

    def note_remb(self, sink: PacketSink, bitrate: int) -> None:
        """A subscriber's REMB: the publisher should not send it more than ``bitrate``."""
        self._remb[sink] = (bitrate, time.monotonic())
        self.remb_reports += 1
        self._send_remb(True)

    def remb_bound(self) -> int | None:
        """What the publisher is told: min(subscribers' recent REMBs, own estimate), bounded."""
        now = time.monotonic()
        values = [bps for bps, at in self._remb.values() if now - at <= REMB_TTL]
        if self._tap is not None and self._tap.estimate is not None:
            values.append(self._tap.estimate)
        if not values:
            return None
        low, high = self._remb_bounds
        return max(low, min(high, min(values)))

    def _send_remb(self, from_subscriber: bool) -> None:
        if self._tap is None or self._media_ssrc is None or self.kind != "video":
            return
        now = time.monotonic()
        last_value, last_at = self._remb_sent
        if not from_subscriber and now - last_at < REMB_INTERVAL:
            return
        bound = self.remb_bound()
        if bound is None:
            return
        if from_subscriber and now - last_at < REMB_INTERVAL and bound > last_value * 0.9:
            return
        self._remb_sent = (bound, now)
        self.remb_sent += 1
        self._tap.send_remb(bound, [self._media_ssrc])

    # --- the end ----------------------------------------------------------------------

    def release(self) -> None:
        """The publisher is gone for good: detach, and leave every sink on no feed."""
        self.detach()
        for sink in tuple(self._sinks):
            sink.switch(None)

    def close(self) -> None:
        self.detach()
        for sink in tuple(self._sinks):
            sink.stop()
