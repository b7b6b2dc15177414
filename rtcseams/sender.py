"""The send side: writing a subscriber's RTP/RTCP straight to its DTLS transport
(``SrtpOut``), taking over a sender (``SenderTap``) and hearing its keyframe requests.

``SenderTap`` quiets a sender's own RTCP loop (the packet path sends sender reports
rewritten from the publisher's), hands the subscriber's RTCP to a callback, and says when
the sender starts with which negotiated parameters. ``SrtpOut`` protects and writes one
datagram synchronously (no task, no await) on the DTLS transport's nominated ICE pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import AnyRtcpPacket, RtcpPsfbPacket, RtcpRtpfbPacket
from pylibsrtp import _binding

from rtcseams.fastsend import BUILT, FastOut, sockaddr
from rtcseams.guards import Count, Guard, uncounted
from rtcseams.receiver import RtcpCallback

_ffi: Any = _binding.ffi
_protect: Callable[[Any, Any, Any], int] = _binding.lib.srtp_protect
_CONNECTED = State.CONNECTED
# The session buffer pylibsrtp allocates (1500 bytes) less the room protection adds.
_MAX_PLAIN = 1500 - 16 - 128
# An RTP header's sequence number, timestamp and SSRC (bytes 2 to 11).
_STAMP = struct.Struct("!HII").pack_into


class _Datagrams(Protocol):
    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class _StunProtocol(Protocol):
    transport: _Datagrams


class _CandidatePair(Protocol):
    protocol: _StunProtocol
    remote_addr: tuple[str, int]


class _IceConnection(Protocol):
    _nominated: dict[int, _CandidatePair]


class _Target:
    """Where one sender's packets go while its transport stays as it is: the DTLS
    transport and nominated ICE pair they were resolved from (checked on each write),
    the socket's ``sendto`` and address, and the SRTP session's own buffer."""

    __slots__ = (
        "addr",
        "buffer",
        "buffered",
        "cdata",
        "dtls",
        "length",
        "nominated",
        "pair",
        "sendto",
        "session",
        "srtp",
    )

    def __init__(self, dtls: Any, nominated: dict[int, _CandidatePair], pair: _CandidatePair):
        self.dtls = dtls
        self.nominated = nominated
        self.pair = pair
        self.sendto = pair.protocol.transport.sendto
        self.buffered = pair.protocol.transport.get_write_buffer_size
        self.addr = pair.remote_addr
        self.session: Any = dtls._tx_srtp
        self.srtp = self.session._srtp[0]
        self.cdata = self.session._cdata
        self.buffer = self.session._buffer
        self.length = _ffi.new("int *")

    def current(self, sender: Any) -> bool:
        dtls = self.dtls
        return (
            sender._RTCRtpSender__transport is dtls
            and dtls._state is _CONNECTED
            and self.nominated.get(1) is self.pair
        )


class SrtpOut:
    """Writes RTP/RTCP to the far end of a sender's DTLS transport, synchronously.

    What a write needs (DTLS transport, SRTP session, socket, address) is resolved once
    and kept while the sender stays on that transport, DTLS stays connected and ICE keeps
    its nominated pair (three identity checks per write): with BUNDLE, aiortc moves a
    sender onto the first m-line's transport after negotiation.

    ``send_stamped`` is the packet path's write: it copies a packet template into the
    SRTP session's own buffer, writes that subscriber's sequence number, timestamp and
    SSRC into it, and protects it there with libsrtp, so that a forwarded packet costs
    one copy of its bytes before encryption rather than three (header + extensions +
    payload joined, then copied in by ``Session.protect``), and no allocation.
    """

    __slots__ = ("_refused", "_sender", "_target")

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender: Any = sender
        self._target: _Target | None = None
        self._refused: _Target | None = None  # a target the C path cannot write to

    def _resolve(self) -> _Target | None:
        target = self._target
        if target is not None and target.current(self._sender):
            return target
        self._target = None
        dtls: Any = self._sender.transport
        if dtls._state is not _CONNECTED:
            return None
        ice: _IceConnection = dtls.transport._connection
        pair = ice._nominated.get(1)
        if pair is None:
            return None
        self._target = target = _Target(dtls, ice._nominated, pair)
        return target

    def send_stamped(self, template: bytes, seq: int, ts: int, ssrc: int) -> bool:
        """Protect and send ``template`` (an RTP packet) with ``seq``, ``ts`` and ``ssrc``
        written into its header; False when the transport is not connected."""
        target = self._target
        # ``_Target.current``, inlined: this runs once per packet and subscriber.
        if (
            target is None
            or self._sender._RTCRtpSender__transport is not target.dtls
            or target.dtls._state is not _CONNECTED
            or target.nominated.get(1) is not target.pair
        ):
            target = self._resolve()
            if target is None:
                return False
        size = len(template)
        if size > _MAX_PLAIN:
            raise ValueError("packet is too long")  # pylibsrtp's own check and words
        buffer = target.buffer
        buffer[0:size] = template
        _STAMP(buffer, 2, seq, ts, ssrc)
        length = target.length
        length[0] = size
        status = _protect(target.srtp, target.cdata, length)
        if status:
            raise SrtpProtectError(status)
        target.sendto(buffer[0 : length[0]], target.addr)
        return True

    def fast(self, ssrc: int) -> FastOut | None:
        """The C path's state for writing to the current target with ``ssrc`` (None when
        there is no current target, its socket has a backlog or is closing, or its
        address is not one the C path takes)."""
        target = self._resolve()
        if not BUILT or target is None or target is self._refused or not self._writable(target):
            return None
        sock = target.pair.protocol.transport.get_extra_info("socket")
        address = sockaddr(sock.family, target.addr) if sock is not None else None
        if sock is None or address is None:
            self._refused = target
            return None
        return FastOut(target.srtp, sock.fileno(), address, ssrc, keep=target)

    def still_fast(self, fast: FastOut) -> bool:
        """Whether ``fast`` may go on writing: made for the current target, whose
        socket has no backlog and is not closing."""
        target = self._resolve()
        return target is not None and fast.target is target and self._writable(target)

    @staticmethod
    def _writable(target: _Target) -> bool:
        transport = target.pair.protocol.transport
        return not transport.is_closing() and transport.get_write_buffer_size() == 0

    def send_protected(self, data: bytes) -> bool:
        """Send an already protected packet (one the C path could not) on the current
        target; False when there is none."""
        target = self._resolve()
        if target is None:
            return False
        target.sendto(data, target.addr)
        return True

    def send_rtp(self, data: bytes) -> bool:
        """Protect and send one RTP packet as it is; False when not connected."""
        return self._send(data, rtcp=False)

    def send_rtcp(self, data: bytes) -> bool:
        """The same for a compound RTCP packet."""
        return self._send(data, rtcp=True)

    def _send(self, data: bytes, rtcp: bool) -> bool:
        target = self._resolve()
        if target is None:
            return False
        session = target.session
        target.sendto(session.protect_rtcp(data) if rtcp else session.protect(data), target.addr)
        return True

    def backlog(self) -> int:
        """Bytes queued in user space because the socket would block (0 when writable),
        on the transport last written to."""
        target = self._target
        return target.buffered() if target is not None else 0


class SrtpProtectError(RuntimeError):
    """libsrtp refused to protect a packet (its status code is the argument)."""


class SenderTap:
    """A subscriber's sender whose packets the forwarder writes itself."""

    def __init__(
        self,
        sender: RTCRtpSender,
        on_start: Callable[[RTCRtpSendParameters], None],
        on_rtcp: RtcpCallback,
        count: Count = uncounted,
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


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the subscriber sends PLI/FIR (aiortc only flags its encoder)."""
    cast(Any, sender)._send_keyframe = callback
