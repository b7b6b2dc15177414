"""The receive side: a publisher's receiver whose RTP goes to the packet forwarder
(``ReceiverTap``), and the accessors the frame path and the bots use on receivers.

``ReceiverTap`` takes over a receiver's RTP handling. aiortc's own bookkeeping
(statistics behind its receiver reports, NACKs for the server's own loss, RTX unwrap,
the bitrate estimate) still runs; its jitter buffer, depacketizer and decoder do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, cast

import aiortc.rtcrtpreceiver as _receiver_module
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from rtcseams.guards import Count, Guard, Tasks, uncounted

RtpCallback = Callable[[RtpPacket, int], None]
RtcpCallback = Callable[[AnyRtcpPacket], None]
RtpHandler = Callable[[RtpPacket, int], Awaitable[None]]


class _StreamStatistics(Protocol):
    def add(self, packet: RtpPacket) -> None: ...


class _NackGenerator(Protocol):
    missing: set[int]

    def add(self, packet: RtpPacket) -> bool: ...


class _BitrateEstimator(Protocol):
    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None: ...


class _TappableReceiver(Protocol):
    """aiortc's ``RTCRtpReceiver`` takes each RTP packet through this coroutine."""

    _handle_rtp_packet: RtpHandler


class ReceiverTap:
    """A publisher's receiver whose RTP goes to ``on_rtp`` instead of its jitter buffer."""

    def __init__(self, receiver: RTCRtpReceiver, count: Count = uncounted) -> None:
        """``count`` is called once per failure (a send or a callback that raised)."""
        self._receiver = receiver
        r: Any = receiver
        self._codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
        self._rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
        self._streams: dict[int, _StreamStatistics] = r._RTCRtpReceiver__remote_streams
        self._nack: _NackGenerator | None = r._RTCRtpReceiver__nack_generator
        self._estimator: _BitrateEstimator | None = r._RTCRtpReceiver__remote_bitrate_estimator
        self._active: dict[int, Any] = r._RTCRtpReceiver__active_ssrc
        self._tasks = Tasks("RTCP to a publisher", count)
        self.guard = Guard("forwarding a publisher's packet", count)
        self._on_rtp: RtpCallback = _ignore_rtp
        self._on_rtcp: RtcpCallback = _ignore_rtcp
        self.estimate: int | None = None  # the receiver's own bitrate estimate (bps)

    @property
    def receiver(self) -> RTCRtpReceiver:
        return self._receiver

    @property
    def failures(self) -> int:
        """RTCP sends to the publisher that raised (each one logged)."""
        return self._tasks.failures

    def install(self, on_rtp: RtpCallback, on_rtcp: RtcpCallback) -> None:
        """Route the receiver's RTP to ``on_rtp``; its RTCP to aiortc, then ``on_rtcp``.

        ``close`` disconnects both callbacks (the receiver then drops RTP).
        """
        receiver: Any = self._receiver
        original_rtcp: Callable[[AnyRtcpPacket], Awaitable[None]] = receiver._handle_rtcp_packet
        self._on_rtp = on_rtp
        self._on_rtcp = on_rtcp
        guard = self.guard

        async def handle_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            try:
                self._on_rtp(packet, arrival_time_ms)
            except Exception:
                guard.failed()

        async def handle_rtcp(packet: AnyRtcpPacket) -> None:
            await original_rtcp(packet)  # keeps LSR/DLSR of our receiver reports right
            try:
                self._on_rtcp(packet)
            except Exception:
                guard.failed()

        receiver._handle_rtp_packet = handle_rtp
        receiver._handle_rtcp_packet = handle_rtcp

    def media_packet(self, packet: RtpPacket, arrival_time_ms: int) -> RtpPacket | None:
        """aiortc's receive bookkeeping for ``packet``; the media packet it carries.

        Feeds the statistics behind aiortc's receiver reports and the bitrate estimate,
        unwraps RTX, and NACKs what the server itself lost. None: not forwardable (unknown
        payload type or RTX source, or the receiver is disabled).
        """
        if not self._receiver._enabled:
            return None
        if self._estimator is not None and packet.extensions.abs_send_time is not None:
            remb = self._estimator.add(
                arrival_time_ms=arrival_time_ms,
                abs_send_time=packet.extensions.abs_send_time,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if remb is not None:
                self.estimate = remb[0]
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return None
        self._active[packet.ssrc] = _now()
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = _stream_statistics(codec.clockRate)
        stats.add(packet)
        if codec.mimeType.lower().endswith("/rtx"):
            original = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original is None or len(packet.payload) < 2 or not isinstance(apt, int):
                return None
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
        if self._nack is not None and self._nack.add(packet):
            self.send_nack(packet.ssrc, sorted(self._nack.missing))
        return packet

    def clock_rate(self, payload_type: int) -> int | None:
        codec = self._codecs.get(payload_type)
        return codec.clockRate if codec is not None else None

    def _rtcp_ssrc(self) -> int | None:
        ssrc: int | None = cast(Any, self._receiver)._RTCRtpReceiver__rtcp_ssrc
        return ssrc

    def _send(self, packet: AnyRtcpPacket) -> None:
        receiver: Any = self._receiver
        self._tasks.start(receiver._send_rtcp(packet))

    def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        ssrc = self._rtcp_ssrc()
        if ssrc is not None and lost:
            packet = RtcpRtpfbPacket(fmt=1, ssrc=ssrc, media_ssrc=media_ssrc)
            packet.lost = lost
            self._send(packet)

    def send_remb(self, bitrate: int, media_ssrcs: list[int]) -> None:
        ssrc = self._rtcp_ssrc()
        if ssrc is not None:
            fci = pack_remb_fci(bitrate, media_ssrcs)
            self._send(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=ssrc, media_ssrc=0, fci=fci))

    def send_pli(self, media_ssrc: int) -> None:
        receiver: Any = self._receiver
        self._tasks.start(receiver._send_rtcp_pli(media_ssrc))

    def close(self) -> None:
        self._on_rtp = _ignore_rtp
        self._on_rtcp = _ignore_rtcp
        self._tasks.cancel()


def _ignore_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
    pass


def _ignore_rtcp(packet: AnyRtcpPacket) -> None:
    pass


def _now() -> Any:
    from aiortc import clock

    return clock.current_datetime()


def _stream_statistics(clock_rate: int) -> _StreamStatistics:
    from aiortc.rtcrtpreceiver import StreamStatistics

    stats: _StreamStatistics = StreamStatistics(clock_rate)
    return stats


def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Coroutine[Any, Any, None]:
    """aiortc's PLI from ``receiver`` for ``media_ssrc`` (a coroutine to run)."""
    coro: Coroutine[Any, Any, None] = cast(Any, receiver)._send_rtcp_pli(media_ssrc)
    return coro


def observe_rtp(receiver: RTCRtpReceiver, callback: Callable[[RtpPacket], None]) -> None:
    """Show every RTP packet to ``callback`` before aiortc's receiver handles it."""
    r: Any = receiver
    original: Callable[[RtpPacket, int], Awaitable[None]] = r._handle_rtp_packet

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        callback(packet)
        await original(packet, arrival_time_ms)

    r._handle_rtp_packet = handle


def observe_rtcp(receiver: RTCRtpReceiver, callback: RtcpCallback) -> None:
    """Show every RTCP packet routed to ``receiver`` to ``callback`` after aiortc has."""
    r: Any = receiver
    original: Callable[[AnyRtcpPacket], Awaitable[None]] = r._handle_rtcp_packet

    async def handle(packet: AnyRtcpPacket) -> None:
        await original(packet)
        callback(packet)

    r._handle_rtcp_packet = handle


def decoder_worker() -> Callable[..., None]:
    """aiortc's receive-side worker thread function (decodes every frame)."""
    worker: Callable[..., None] = _receiver_module.decoder_worker
    return worker


def track_queue(track: Any) -> asyncio.Queue[Any]:
    """The queue a remote track's frames arrive on (its decoder thread's output)."""
    queue: asyncio.Queue[Any] = track._queue
    return queue


def tap_rtp(
    receiver: RTCRtpReceiver, seen: Callable[[RtpPacket], None], *, replace: bool = False
) -> None:
    """Call ``seen(packet)`` for each RTP packet ``receiver`` gets, before aiortc does;
    with ``replace``, aiortc never sees the packets (no jitter buffer, NACK or decoder)."""
    tappable = cast(_TappableReceiver, receiver)
    own = tappable._handle_rtp_packet

    async def tapped(packet: RtpPacket, arrival_time_ms: int) -> None:
        seen(packet)
        if not replace:
            await own(packet, arrival_time_ms)

    tappable._handle_rtp_packet = tapped


class UndecodedFrame:
    """What ``track.recv()`` returns once ``count_without_decoding`` is installed."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size
