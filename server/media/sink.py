"""One subscriber's outgoing stream on the packet path: ``PacketSink``.

A sink stands where the frame path puts a relay track: it is the track of a
subscriber's sender (so aiortc's SDP names it), but it never yields a frame; the feed
hands it each packet and it writes the rewritten copy straight to the subscriber's
SRTP transport. It starts video on a key frame (asking the publisher for one), starts
over on the next key frame when the subscriber's socket backs up, answers the
subscriber's NACKs from its feed's packet cache (as RTX where negotiated), passes
PLI/FIR and REMB on to its feed, and sends sender reports rewritten from the
publisher's, so the subscriber's audio and video map onto one clock (lip sync).

Once a sink is anchored and awaits no key frame, its feed sends its packets through the
C path (``fast``, a ``FastOut``: ``rtcseams/fastsend.py``) instead of ``forward``; the sink
goes back to ``forward`` (``leave_fast``, its ``StreamMap`` taking the running values
back) on any change of source, gap or lag, and ``fast_failed`` takes the packets the C
path handed back.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any, Protocol

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    unpack_remb_fci,
)

from server.ids import ParticipantId
from server.media.aiortc_compat import (
    FAST_PROTECT_FAILED,
    FAST_STALE,
    FastOut,
    Outgoing,
    SenderTap,
    SrtpOut,
    SrtpProtectError,
)
from server.media.counters import MediaCounters
from server.media.rtp_rewrite import InPacket, Layout, StreamMap, rtp_template, rtx_payload

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


class PacketSource(Protocol):
    """What a sink needs from the feed it reads (``server/media/feed.py``)."""

    def cached(self, source: object, seq: int) -> InPacket | None: ...
    def request_keyframe(self) -> None: ...
    def note_remb(self, sink: PacketSink, bitrate: int) -> None: ...
    def adopt(self, sink: PacketSink) -> None: ...
    def unsubscribe(self, sink: PacketSink) -> None: ...
    def fast_changed(self) -> None: ...


def layout_of(parameters: RTCRtpSendParameters) -> Layout:
    """The payload types and extension ids one subscriber negotiated for a sender."""
    primary = parameters.codecs[0].payloadType
    if primary is None:
        raise ValueError("the sender started with no payload type")
    rtx = next(
        (
            c.payloadType
            for c in parameters.codecs
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == primary
        ),
        None,
    )
    ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
    return Layout(
        payload_type=primary,
        rtx_payload_type=rtx,
        mid_id=ids.get(MID_URI),
        audio_level_id=ids.get(AUDIO_LEVEL_URI),
        abs_send_time_id=ids.get(ABS_SEND_TIME_URI),
    )


class PacketSink(MediaStreamTrack):
    """A subscriber's sender slot, fed packets by at most one feed at a time."""

    def __init__(
        self,
        feed: PacketSource | None,
        kind: str,
        owner: ParticipantId | None,
        lag_bytes: int,
        counters: MediaCounters | None = None,
    ) -> None:
        super().__init__()
        self._counters = counters if counters is not None else MediaCounters()
        self.kind = kind
        self.owner = owner
        self._feed = feed
        self._lag_bytes = lag_bytes
        self._ended = asyncio.Event()
        self._out: SrtpOut | None = None
        self._ssrc = 0
        self._rtx_ssrc = 0
        self._rtx_seq = random.randrange(1 << 15)
        self.layout: Layout | None = None
        # Sinks with equal shapes (layout and mid) share one packet template per packet.
        # Interned: equal shapes are one object, so the feed's loop compares identities.
        self.shape: str | None = None
        self._mid_block = b""
        self._cname = b""
        self._map: StreamMap | None = None
        self._need_keyframe = kind == "video"
        self._anchored = False
        # Set while the C path serves this sink (anchored, no key frame awaited): its
        # feed then hands packets to a ``FastGroup`` instead of ``forward``.
        self.fast: FastOut | None = None
        self._forwarded = 0  # packets sent by ``forward`` (retransmissions apart)
        self._octets = 0
        self.dropped = 0
        self.retransmitted = 0
        self.nack_misses = 0
        self.restarts = 0

    @property
    def ssrc(self) -> int:
        """The SSRC this subscriber receives the stream on (0 until a sender is attached)."""
        return self._ssrc

    @property
    def feed(self) -> PacketSource | None:
        return self._feed

    @property
    def forwarded(self) -> int:
        """Packets sent (retransmissions apart), by Python and by the C path."""
        fast = self.fast
        return self._forwarded + (fast.forwarded if fast is not None else 0)

    @property
    def octets(self) -> int:
        """Payload bytes of those packets."""
        fast = self.fast
        return self._octets + (fast.octets if fast is not None else 0)

    # --- wiring ---------------------------------------------------------------------------

    def attach_sender(self, sender: RTCRtpSender) -> None:
        """Write for ``sender`` (this sink is its track) once it starts."""
        tap = SenderTap(sender, self._started, self._on_rtcp, self._counters.count_failure)
        self._out = tap.out
        self._ssrc = tap.ssrc
        self._rtx_ssrc = tap.rtx_ssrc

    def _started(self, parameters: RTCRtpSendParameters) -> None:
        layout = layout_of(parameters)
        self._mid_block = layout.mid_block(parameters.muxId)
        self._cname = (parameters.rtcp.cname or "").encode()
        clock = parameters.codecs[0].clockRate
        self._map = StreamMap(clock, random.randrange(1 << 15), random.randrange(1 << 32))
        self.layout = layout
        self.shape = sys.intern(f"{layout!r}|{self._mid_block.hex()}")
        self.source_changed()

    def switch(self, feed: PacketSource | None) -> None:
        """Read from ``feed`` from now on (None: from nothing); the sender stays up."""
        if feed is self._feed:
            return
        if self._feed is not None:
            self._feed.unsubscribe(self)
        self._feed = feed
        self.source_changed()
        if feed is not None:
            feed.adopt(self)

    def source_changed(self) -> None:
        """Another source (feed or publisher) follows: restart cleanly on its key frame."""
        self.leave_fast()
        self._need_keyframe = self.kind == "video"
        self._anchored = False

    def gap(self) -> None:
        """The feed dropped packets on purpose (mute): continue without a sequence gap."""
        self.leave_fast()
        self._anchored = False

    # --- forwarding -----------------------------------------------------------------------

    def template(self, packet: InPacket, payload: bytes | None = None) -> bytes:
        """``packet`` as this sink's layout sends it (``payload`` instead of its own if
        given), sequence number, timestamp and SSRC left for ``SrtpOut.send_stamped``.
        Built once per packet for every sink of the same ``shape``."""
        layout = self.layout
        if layout is None:
            raise ValueError("the sink's sender has not started")
        tail = layout.tail(packet, payload)
        used = packet.payload if payload is None else payload
        ext_len = len(self._mid_block) + len(tail) - len(used)
        return rtp_template(layout.payload_type, packet.marker, self._mid_block, tail, ext_len)

    def forward(self, packet: InPacket, template: bytes, now: float, source: object) -> int:
        """Send ``packet``, whose ``template`` (for this sink's shape) the feed built."""
        out, stream = self._out, self._map
        if out is None or stream is None:
            return 0
        if self._need_keyframe:
            if not packet.keyframe_start:
                self.dropped += 1
                if self._feed is not None:
                    self._feed.request_keyframe()  # throttled by the feed
                return 0
            self._need_keyframe = False
        if not self._anchored:
            stream.anchor(packet, now, source)
            self._anchored = True
        seq, ts = stream.map(packet, now)
        vp8 = packet.vp8
        if vp8 is not None:
            epoch = stream.epoch
            if epoch is not None and (epoch.pid_delta or epoch.tl0_delta):
                payload = vp8.shifted(packet.payload, epoch.pid_delta, epoch.tl0_delta)
                template = self.template(packet, payload)
        if not out.send_stamped(template, seq, ts, self._ssrc):
            return 0
        self._forwarded += 1
        self._octets += len(packet.payload)
        if packet.marker and out.backlog() > self._lag_bytes:
            self._lagging()
        elif self.fast is None:
            self._go_fast(out, stream)
        return 1

    # --- the C path ---------------------------------------------------------------------

    def _go_fast(self, out: SrtpOut, stream: StreamMap) -> None:
        epoch = stream.epoch
        if epoch is None or self._feed is None:
            return
        fast = out.fast(self._ssrc)
        if fast is None:
            return
        fast.start(
            (epoch.seq_delta, epoch.ts_delta, epoch.pid_delta, epoch.tl0_delta), stream.running()
        )
        self.fast = fast
        self._feed.fast_changed()

    def leave_fast(self) -> None:
        """Back to ``forward``: take the C path's running values and counts back."""
        fast = self.fast
        if fast is None:
            return
        self.fast = None
        if self._map is not None:
            self._map.resume(fast.running())
        self._forwarded += fast.forwarded
        self._octets += fast.octets
        if self._feed is not None:
            self._feed.fast_changed()

    def fast_failed(self, packet: InPacket, outgoing: Outgoing, now: float, source: object) -> int:
        """The C path handed this sink back for ``packet``: go on (1 if sent)."""
        fast, out = self.fast, self._out
        if fast is None or out is None:
            return 0
        status = fast.status
        if status == FAST_STALE and out.still_fast(fast):
            # Checked again and unchanged: the C path sends it after all.
            if fast.recheck(outgoing):
                return 1
            status = fast.status
        self.leave_fast()
        if status == FAST_STALE:
            return self.forward(packet, outgoing.template, now, source)
        if status == FAST_PROTECT_FAILED:
            raise SrtpProtectError(fast.error)
        # Protected but not taken by the socket (it would block): the transport queues it.
        if not out.send_protected(fast.unsent()):
            return 0
        self._forwarded += 1
        self._octets += len(packet.payload)
        if packet.marker and out.backlog() > self._lag_bytes:
            self._lagging()
        return 1

    def _lagging(self) -> None:
        # The subscriber's socket is not draining: drop until the next key frame rather
        # than deliver a growing backlog.
        self.leave_fast()
        self.restarts += 1
        self.source_changed()
        if self._feed is not None and self.kind == "video":
            self._feed.request_keyframe()

    def retransmit(self, out_seq: int) -> bool:
        """Resend ``out_seq`` from the feed's cache (RTX when negotiated)."""
        out, layout, stream, feed = self._out, self.layout, self._map, self._feed
        if out is None or layout is None or stream is None or feed is None:
            return False
        found = stream.find(out_seq)
        packet = feed.cached(found[0].source, found[1]) if found is not None else None
        if found is None or packet is None:
            self.nack_misses += 1
            return False
        epoch = found[0]
        payload = packet.payload
        if packet.vp8 is not None and (epoch.pid_delta or epoch.tl0_delta):
            payload = packet.vp8.shifted(payload, epoch.pid_delta, epoch.tl0_delta)
        ts = (packet.ts + epoch.ts_delta) & 0xFFFFFFFF
        if layout.rtx_payload_type is not None:
            pt, seq, ssrc = layout.rtx_payload_type, self._rtx_seq, self._rtx_ssrc
            payload = rtx_payload(out_seq, payload)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            pt, seq, ssrc = layout.payload_type, out_seq, self._ssrc
        tail = layout.tail(packet, payload)
        ext_len = len(self._mid_block) + len(tail) - len(payload)
        template = rtp_template(pt, packet.marker, self._mid_block, tail, ext_len)
        if out.send_stamped(template, seq, ts, ssrc):
            self.retransmitted += 1
            self._counters.retransmissions += 1
            return True
        return False

    def send_report(self, ntp: int, rtp_ts: int, source: object) -> None:
        """A sender report mapping the publisher's ``ntp`` clock onto this stream."""
        out, stream = self._out, self._map
        epoch = stream.epoch if stream is not None else None
        if out is None or epoch is None or epoch.source is not source or not self._anchored:
            return
        info = RtcpSenderInfo(
            ntp_timestamp=ntp,
            rtp_timestamp=(rtp_ts + epoch.ts_delta) & 0xFFFFFFFF,
            packet_count=self.forwarded & 0xFFFFFFFF,
            octet_count=self.octets & 0xFFFFFFFF,
        )
        sr = RtcpSrPacket(ssrc=self._ssrc, sender_info=info)
        sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self._ssrc, items=[(1, self._cname)])])
        out.send_rtcp(bytes(sr) + bytes(sdes))

    # --- what the subscriber says -------------------------------------------------------

    def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                self.retransmit(seq)
        elif isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.request_keyframe()
            elif packet.fmt == RTCP_PSFB_APP and self._feed is not None:
                try:
                    bitrate, _ = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                self._feed.note_remb(self, bitrate)

    def request_keyframe(self) -> None:
        if self._feed is not None:
            self._feed.request_keyframe()

    # --- the track aiortc's sender reads (never yields) --------------------------------

    async def recv(self) -> Any:
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        if self._feed is not None:
            self._feed.unsubscribe(self)
        self._ended.set()
        super().stop()
