"""The one seam to aiortc's and aioice's private internals used by the packet path.

aiortc has no public API to take RTP packets off a receiver, to write packets to a
sender's transport, or to hear a subscriber's RTCP feedback. Everything the packet path
needs from inside aiortc (1.16) and aioice (0.13) is reached here and only here, typed
with Protocols, so that an upgrade that renames an attribute fails at start-up
(``check``), with a message naming what is missing, instead of silently stopping media.
``tests/media/test_aiortc_compat.py`` exercises every accessor on real peers.

What it offers:
- ``ReceiverTap``: takes over a receiver's RTP handling. aiortc's own bookkeeping
  (statistics behind its receiver reports, NACKs for the server's own loss, RTX unwrap,
  the bitrate estimate) still runs; its jitter buffer, depacketizer and decoder do not.
- ``SenderTap``: quiets a sender's own RTCP loop (the packet path sends sender reports
  rewritten from the publisher's), hands the subscriber's RTCP to a callback, and says
  when the sender starts with which negotiated parameters.
- ``SrtpOut``: protects and writes one datagram synchronously (no task, no await) on a
  DTLS transport's nominated ICE pair.
- ``send_pli``, ``on_keyframe_request``, ``observe_rtp``, ``decoder_worker``/
  ``set_decoder_worker`` and ``track_queue`` for the frame path.
- ``ice_connection``, ``take_over_gathering`` and ``add_ice_protocols`` for
  ``server/media/ice.py``, which gathers ICE candidates on the addresses and ports the
  settings name (both paths); ``filter_incoming`` for the tests' packet loss.
- ``check``/``check_ice`` at start-up: ``salon serve`` refuses to start, in one line,
  when an internal is missing or its signature changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, cast

import aiortc
import aiortc.rtcrtpreceiver as _receiver_module
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from server.settings import SettingsError

logger = logging.getLogger(__name__)

RtpCallback = Callable[[RtpPacket, int], None]
RtcpCallback = Callable[[AnyRtcpPacket], None]


class CompatError(SettingsError):
    """The installed aiortc/aioice lacks an internal the packet path relies on.

    A ``SettingsError``: the server refuses to start and says which setting avoids it.
    """


# --- the shapes reached (Protocols) -------------------------------------------------------


class _Srtp(Protocol):
    def protect(self, packet: bytes) -> bytes: ...
    def protect_rtcp(self, packet: bytes) -> bytes: ...


class _Datagrams(Protocol):
    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class _StunProtocol(Protocol):
    transport: _Datagrams


class _CandidatePair(Protocol):
    protocol: _StunProtocol
    remote_addr: tuple[str, int]


class _IceConnection(Protocol):
    _nominated: dict[int, _CandidatePair]


class _StreamStatistics(Protocol):
    def add(self, packet: RtpPacket) -> None: ...


class _NackGenerator(Protocol):
    missing: set[int]

    def add(self, packet: RtpPacket) -> bool: ...


class _BitrateEstimator(Protocol):
    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None: ...


# Private attributes read, by class: (mangled instance attribute set in __init__, ...).
_RECEIVER_ATTRS = (
    "_enabled",
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__active_ssrc",
    "_RTCRtpReceiver__rtcp_ssrc",
)
_SENDER_ATTRS = (
    "_RTCRtpSender__rtp_task",
    "_RTCRtpSender__rtcp_started",
    "_RTCRtpSender__rtcp_exited",
)
# Methods replaced or called, with the parameters aiortc calls them with.
_METHODS: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (RTCRtpReceiver, "_handle_rtp_packet", ("self", "packet", "arrival_time_ms")),
    (RTCRtpReceiver, "_handle_rtcp_packet", ("self", "packet")),
    (RTCRtpReceiver, "_send_rtcp", ("self", "packet")),
    (RTCRtpReceiver, "_send_rtcp_pli", ("self", "media_ssrc")),
    (RTCRtpSender, "_handle_rtcp_packet", ("self", "packet")),
    (RTCRtpSender, "_run_rtcp", ("self",)),
    (RTCRtpSender, "_send_keyframe", ("self",)),
    (RTCRtpSender, "send", ("self", "parameters")),
    (RTCDtlsTransport, "_send_rtp", ("self", "data")),
)


def check_ice() -> None:
    """Raise ``CompatError`` if the ICE and frame-path internals are missing (both paths)."""
    from aioice.ice import Connection
    from aiortc.rtcicetransport import RTCIceGatherer
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    missing = [
        name
        for name, found in (
            (
                "RTCIceGatherer._connection",
                "_connection" in RTCIceGatherer.__init__.__code__.co_names,
            ),
            ("aioice Connection._protocols", "_protocols" in Connection.__init__.__code__.co_names),
            (
                "aioice Connection.get_component_candidates(self, component, addresses, timeout)",
                tuple(inspect.signature(Connection.get_component_candidates).parameters)
                == ("self", "component", "addresses", "timeout"),
            ),
            ("aiortc.rtcrtpreceiver.decoder_worker", hasattr(_receiver_module, "decoder_worker")),
            ("RemoteStreamTrack._queue", "_queue" in RemoteStreamTrack.__init__.__code__.co_names),
        )
        if not found
    ]
    if missing:
        raise CompatError(
            f"aiortc {aiortc.__version__} lacks internals Salon's media needs: "
            + ", ".join(missing)
            + ". Install the versions pyproject.toml pins."
        )


def check() -> None:
    """Raise ``CompatError`` naming every internal missing from the installed aiortc."""
    missing: list[str] = []
    for cls, name, params in _METHODS:
        method = getattr(cls, name, None)
        if method is None:
            missing.append(f"{cls.__name__}.{name}")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found != params:
            missing.append(f"{cls.__name__}.{name}{params} (found {found})")
    for cls, attrs in ((RTCRtpReceiver, _RECEIVER_ATTRS), (RTCRtpSender, _SENDER_ATTRS)):
        names = cls.__init__.__code__.co_names
        missing += [f"{cls.__name__}.{a}" for a in attrs if a not in names]
    dtls_names = RTCDtlsTransport.__init__.__code__.co_names
    missing += [f"RTCDtlsTransport.{a}" for a in ("_tx_srtp", "_state") if a not in dtls_names]
    if not hasattr(State, "CONNECTED"):
        missing.append("aiortc.rtcdtlstransport.State.CONNECTED")
    from aioice.ice import Connection

    if "_nominated" not in Connection.__init__.__code__.co_names:
        missing.append("aioice.ice.Connection._nominated")
    if missing:
        raise CompatError(
            f"aiortc {aiortc.__version__} lacks internals the packet forwarder needs: "
            + ", ".join(missing)
            + '. Install the pinned versions, or set media.forwarding = "frames".'
        )


# --- tasks started here ----------------------------------------------------------------


Count = Callable[[], None]


def _uncounted() -> None:
    pass


class Guard:
    """Runs the forwarder's callbacks for aiortc's transport loops: an exception is logged
    (the first, then every thousandth) and counted (here and by ``count``), never raised
    into aiortc, where it would end the peer connection's DTLS loop and with it the
    publisher's media."""

    def __init__(self, what: str, count: Count = _uncounted) -> None:
        self._what = what
        self._count = count
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1
        self._count()
        if self.failures % 1000 == 1:
            logger.exception("%s failed (%d so far)", self._what, self.failures)


class _Tasks:
    """Fire-and-forget sends, owned: failures are logged and counted, never lost."""

    def __init__(self, what: str, count: Count = _uncounted) -> None:
        self._what = what
        self._count = count
        self._running: set[asyncio.Task[None]] = set()
        self.failures = 0

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            self._count()
            logger.warning("%s failed: %r", self._what, task.exception())

    def cancel(self) -> None:
        for task in self._running:
            task.cancel()


# --- receive side ----------------------------------------------------------------------


class ReceiverTap:
    """A publisher's receiver whose RTP goes to ``on_rtp`` instead of its jitter buffer."""

    def __init__(self, receiver: RTCRtpReceiver, count: Count = _uncounted) -> None:
        """``count`` is called once per failure (a send or a callback that raised)."""
        self._receiver = receiver
        r: Any = receiver
        self._codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
        self._rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
        self._streams: dict[int, _StreamStatistics] = r._RTCRtpReceiver__remote_streams
        self._nack: _NackGenerator | None = r._RTCRtpReceiver__nack_generator
        self._estimator: _BitrateEstimator | None = r._RTCRtpReceiver__remote_bitrate_estimator
        self._active: dict[int, Any] = r._RTCRtpReceiver__active_ssrc
        self._tasks = _Tasks("RTCP to a publisher", count)
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


# --- send side -------------------------------------------------------------------------


class SrtpOut:
    """Writes RTP/RTCP to the far end of a sender's DTLS transport, synchronously.

    The transport is looked up on each write: with BUNDLE, aiortc moves a sender onto
    the first m-line's transport after negotiation.
    """

    __slots__ = ("_sender",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender

    def _pair(self) -> tuple[_Srtp, _CandidatePair] | None:
        dtls: Any = self._sender.transport
        if dtls._state is not State.CONNECTED:
            return None
        ice: _IceConnection = dtls.transport._connection
        pair = ice._nominated.get(1)
        return (dtls._tx_srtp, pair) if pair is not None else None

    def send_rtp(self, data: bytes) -> bool:
        """Protect and send one RTP packet; False when the transport is not connected."""
        found = self._pair()
        if found is None:
            return False
        srtp, pair = found
        pair.protocol.transport.sendto(srtp.protect(data), pair.remote_addr)
        return True

    def send_rtcp(self, data: bytes) -> bool:
        """The same for a compound RTCP packet."""
        found = self._pair()
        if found is not None:
            found[1].protocol.transport.sendto(found[0].protect_rtcp(data), found[1].remote_addr)
        return found is not None

    def backlog(self) -> int:
        """Bytes queued in user space because the socket would block (0 when writable)."""
        found = self._pair()
        return found[1].protocol.transport.get_write_buffer_size() if found is not None else 0


class SenderTap:
    """A subscriber's sender whose packets the forwarder writes itself."""

    def __init__(
        self,
        sender: RTCRtpSender,
        on_start: Callable[[RTCRtpSendParameters], None],
        on_rtcp: RtcpCallback,
        count: Count = _uncounted,
    ) -> None:
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        s: Any = sender
        original_send: Callable[[RTCRtpSendParameters], Awaitable[None]] = s.send
        original_rtcp: Callable[[AnyRtcpPacket], Awaitable[None]] = s._handle_rtcp_packet
        started: asyncio.Event = s._RTCRtpSender__rtcp_started
        exited: asyncio.Event = s._RTCRtpSender__rtcp_exited

        async def send(parameters: RTCRtpSendParameters) -> None:
            first = s._RTCRtpSender__rtp_task is None
            await original_send(parameters)
            if first:
                on_start(parameters)

        async def quiet_rtcp() -> None:
            # aiortc's loop would send sender reports of its own (zeros: its encoder loop
            # never runs); the forwarder sends them rewritten from the publisher's.
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.get_running_loop().create_future()
            exited.set()

        guard = self.guard = Guard("handling a subscriber's RTCP", count)

        async def handle_rtcp(packet: AnyRtcpPacket) -> None:
            try:
                on_rtcp(packet)
            except Exception:
                guard.failed()
            if isinstance(packet, RtcpRtpfbPacket | RtcpPsfbPacket):
                return  # NACK, PLI/FIR and REMB are the forwarder's
            await original_rtcp(packet)  # receiver reports: aiortc's RTT and stats

        s.send = send
        s._run_rtcp = quiet_rtcp
        s._handle_rtcp_packet = handle_rtcp
        self.out = SrtpOut(sender)


# --- frame path ------------------------------------------------------------------------


def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Coroutine[Any, Any, None]:
    """aiortc's PLI from ``receiver`` for ``media_ssrc`` (a coroutine to run)."""
    coro: Coroutine[Any, Any, None] = cast(Any, receiver)._send_rtcp_pli(media_ssrc)
    return coro


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the subscriber sends PLI/FIR (aiortc only flags its encoder)."""
    cast(Any, sender)._send_keyframe = callback


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


def set_decoder_worker(worker: Callable[..., None]) -> None:
    """Make receivers started from now on run ``worker`` as their decoder thread."""
    cast(Any, _receiver_module).decoder_worker = worker


def track_queue(track: Any) -> asyncio.Queue[Any]:
    """The queue a remote track's frames arrive on (its decoder thread's output)."""
    queue: asyncio.Queue[Any] = track._queue
    return queue


def ice_connection(dtls: RTCDtlsTransport) -> Any:
    """The aioice ``Connection`` behind a DTLS transport's ICE gatherer."""
    return cast(Any, dtls.transport.iceGatherer)._connection


def add_ice_protocols(connection: Any, protocols: list[Any]) -> None:
    """Hand sockets gathered outside aioice to ``connection`` (it reads and closes them)."""
    connection._protocols += protocols


Gather = Callable[..., Awaitable[list[Any]]]


def take_over_gathering(connection: Any, make: Callable[[Gather], Gather]) -> bool:
    """Replace ``connection``'s candidate gathering by ``make(aioice's own)``, once.

    False when it was replaced already (a connection shared by BUNDLEd transceivers).
    """
    if getattr(connection, "_salon_gathering", False):
        return False
    original: Gather = connection.get_component_candidates
    connection._salon_gathering = True
    connection.get_component_candidates = make(original)
    return True


def filter_incoming(ice_transport: Any, keep: Callable[[bytes], bool]) -> None:
    """Drop the datagrams an ICE transport receives for which ``keep`` is False (tests
    inject loss this way: the kernel here has no ``netem``)."""
    original: Callable[[], Awaitable[bytes]] = ice_transport._recv

    async def recv() -> bytes:
        while True:
            data = await original()
            if keep(data):
                return data

    ice_transport._recv = recv
