"""The packet path's steady state in one C call per packet: ``FastOut`` and ``FastGroup``.

A subscriber that is anchored on its feed and awaits no key frame is served by
``rtcseams._fastsend`` (built from ``fastsend_build.py``): one ``FastGroup.send`` per
packet and subscriber shape maps, stamps, protects and sends every member's copy in C,
where Python spent 2-4 µs per subscriber on the same steps. ``FastOut`` is one
subscriber's C-side state: its SRTP context, socket, address and SSRC, the epoch's
offsets and ``StreamMap``'s running values, and its counters.

What Python checked on every write (the sender still on its DTLS transport, DTLS still
connected, ICE's nominated pair unchanged: ``SrtpOut``) is checked here once per
*generation*: every call that can change one of those for any connection (a DTLS state
change, a sender moved to another transport, a pair nominated or selected, an ICE
connection or one of its sockets closing) bumps a process-wide counter first, and a
``FastOut`` checked at an older generation sends nothing and is handed back to Python,
which checks it again (``SALON_STALE``). A socket is only closed by those calls, so C
never writes to a descriptor that was closed or reused.

A subscriber whose socket would block, or whose packet libsrtp refused, is also handed
back (``failures``), with the protected bytes kept for the transport's own queue.
"""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from aioice.ice import Connection, StunProtocol
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpsender import RTCRtpSender
from pylibsrtp import _binding

try:
    from rtcseams import _fastsend  # type: ignore[attr-defined]
except ImportError:  # not built: ``checks.missing_for_packet_path`` says so at start-up
    _fastsend = None

BUILT = _fastsend is not None
_ffi: Any = _fastsend.ffi if BUILT else None
_lib: Any = _fastsend.lib if BUILT else None
_PROTECT: Any = (
    _ffi.cast(
        "salon_protect_fn",
        int(_binding.ffi.cast("uintptr_t", _binding.ffi.addressof(_binding.lib, "srtp_protect"))),
    )
    if BUILT
    else None
)
OK, STALE, UNSENT, PROTECT_FAILED = 0, 1, 2, 3  # salon_out.status (SALON_OK, ...)

Owner = TypeVar("Owner")


class Outgoing(NamedTuple):
    """One packet as every subscriber of a shape gets it, before its own stamp.

    ``template``: the RTP packet, its last ``payload_len`` bytes the payload;
    ``seq``/``ts``: the publisher's; ``now``: the fan-out's clock (``StreamMap.map``);
    ``vp8``: (picture id or -1, its offset in the payload, 1 if 15 bits, TL0PICIDX or
    -1, its offset), or None."""

    template: bytes
    payload_len: int
    seq: int
    ts: int
    now: float
    vp8: tuple[int, int, int, int, int] | None


def _send(array: Any, n: int, failed: Any, packet: Outgoing) -> int:
    template, payload_len, seq, ts, now, vp8 = packet
    if vp8 is None:
        pid = tl0 = -1
        pid_pos = tl0_pos = pid_long = 0
    else:
        base = len(template) - payload_len
        pid, pid_pos, pid_long, tl0, tl0_pos = vp8
        pid_pos += base
        tl0_pos += base
    sent: int = _lib.salon_fan_out(
        _PROTECT,
        template,
        len(template),
        payload_len,
        seq,
        ts,
        now,
        pid,
        pid_pos,
        pid_long,
        tl0,
        tl0_pos,
        array,
        n,
        failed,
    )
    return sent


# --- the generation: what makes a checked transport worth checking again ----------------


def _bumping(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def bumped(*args: Any, **kwargs: Any) -> Any:
        _lib.salon_bump()  # before the change (and, for coroutines, before they run)
        return method(*args, **kwargs)

    bumped.__salon_bumps__ = True  # type: ignore[attr-defined]
    return bumped


BUMPED: tuple[tuple[type, str], ...] = (
    (RTCDtlsTransport, "_set_state"),
    (RTCRtpSender, "setTransport"),
    (Connection, "check_complete"),
    (Connection, "set_selected_pair"),
    (Connection, "close"),
    (StunProtocol, "close"),
    (StunProtocol, "connection_lost"),
)


def install() -> None:
    """Make every call that can change a subscriber's transport bump the generation
    (idempotent; done when this module is imported)."""
    for cls, name in BUMPED:
        method = getattr(cls, name, None)  # missing: ``checks`` refuses the packet path
        if method is not None and not getattr(method, "__salon_bumps__", False):
            setattr(cls, name, _bumping(method))


if BUILT:
    install()


def generation() -> int:
    current: int = _lib.salon_generation()
    return current


# --- one subscriber ---------------------------------------------------------------------


def sockaddr(family: int, addr: tuple[Any, ...]) -> bytes | None:
    """``addr`` as the kernel's ``sockaddr_in``/``sockaddr_in6`` for a socket of
    ``family``; None for anything else (the subscriber then stays on Python's path)."""
    host, port = addr[0], addr[1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
        return None
    try:
        if family == socket.AF_INET:
            packed = socket.inet_pton(socket.AF_INET, host)
            return struct.pack("=H", family) + struct.pack("!H", port) + packed + bytes(8)
        if family == socket.AF_INET6 and "%" not in host:
            packed = socket.inet_pton(socket.AF_INET6, host)
            return struct.pack("=H", family) + struct.pack("!HI", port, 0) + packed + bytes(4)
    except OSError:
        return None
    return None


class FastOut:
    """One subscriber's state on the C path, over one resolved transport."""

    __slots__ = ("_alone", "_failed", "cdata", "target")

    def __init__(self, srtp: Any, fd: int, address: bytes, ssrc: int, keep: object) -> None:
        self.cdata: Any = _ffi.new("salon_out *")
        # What it was made for; it holds the SRTP session (owner of ``srtp``) and the
        # socket, which must outlive the C state.
        self.target = keep
        c = self.cdata
        c.srtp = srtp
        c.fd = fd
        c.ssrc = ssrc
        _lib.salon_set_addr(c, address, len(address))
        c.gen = _lib.salon_generation()
        self._alone: Any = _ffi.new("salon_out *[1]", [c])
        self._failed: Any = _ffi.new("int *")

    def start(
        self,
        deltas: tuple[int, int, int, int],
        running: tuple[int, int, float, int | None, int | None],
    ) -> None:
        """Take over a ``StreamMap``: its epoch's (seq, ts, pid, tl0) offsets and its
        running (last seq, last ts, last time, last pid, last tl0)."""
        c = self.cdata
        c.seq_delta, c.ts_delta, c.pid_delta, c.tl0_delta = deltas
        last_seq, last_ts, last_time, last_pid, last_tl0 = running
        c.last_seq, c.last_ts, c.last_time = last_seq, last_ts, last_time
        c.last_pid = -1 if last_pid is None else last_pid
        c.last_tl0 = -1 if last_tl0 is None else last_tl0

    def running(self) -> tuple[int, int, float, int | None, int | None]:
        """``StreamMap``'s running values as the C path left them."""
        c = self.cdata
        pid, tl0 = int(c.last_pid), int(c.last_tl0)
        return (
            int(c.last_seq),
            int(c.last_ts),
            float(c.last_time),
            None if pid < 0 else pid,
            None if tl0 < 0 else tl0,
        )

    def recheck(self, packet: Outgoing) -> int:
        """The transport was found unchanged: serve it again at this generation, from
        ``packet`` on (1 if sent; when 0, ``status`` says why)."""
        self.cdata.gen = _lib.salon_generation()
        return max(0, _send(self._alone, 1, self._failed, packet))

    @property
    def status(self) -> int:
        return int(self.cdata.status)

    @property
    def error(self) -> int:
        return int(self.cdata.error)

    @property
    def forwarded(self) -> int:
        return int(self.cdata.forwarded)

    @property
    def octets(self) -> int:
        return int(self.cdata.octets)

    def unsent(self) -> bytes:
        """The protected packet ``sendto`` did not take (status ``UNSENT``)."""
        c = self.cdata
        return bytes(_ffi.buffer(_lib.salon_buffer(c), c.len))


class FastGroup(Generic[Owner]):
    """The subscribers of one shape that the C path serves, and who owns each."""

    __slots__ = ("_array", "_failed", "_n", "outs", "owners")

    def __init__(self, members: Sequence[tuple[Owner, FastOut]]) -> None:
        self.owners = [owner for owner, _ in members]
        self.outs = [out for _, out in members]
        self._n = len(self.outs)
        self._array: Any = _ffi.new("salon_out *[]", [out.cdata for out in self.outs])
        self._failed: Any = _ffi.new("int *")

    def send(self, packet: Outgoing) -> int:
        """Send ``packet`` to every member: the number sent, or -1 when the packet does
        not fit the C path (every member is then left to Python)."""
        return _send(self._array, self._n, self._failed, packet)

    @property
    def failed(self) -> int:
        """How many members the last ``send`` handed back."""
        return int(self._failed[0])

    def failures(self) -> Iterator[tuple[Owner, FastOut]]:
        """The members the last ``send`` handed back, with their status."""
        for owner, out in zip(self.owners, self.outs, strict=True):
            if out.cdata.status != OK:
                yield owner, out
