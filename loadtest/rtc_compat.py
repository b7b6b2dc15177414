"""The load tester's one seam to aiortc's and aioice's private internals (client side).

A bot needs three things aiortc 1.16 / aioice 0.13 have no public API for; each is
reached here and only here, typed with Protocols, and ``check()`` says what is missing
on an upgrade (``tests/loadtest/test_rtc_compat.py`` runs every accessor on real peers):

- ``gather_on``: aioice never offers 127.0.0.1 as a host candidate. A bot whose server
  is on loopback makes each ICE connection of its peer gather on the addresses it names
  (aioice's own gathering, handed other addresses).
- ``tap_rtp``: see every RTP packet of a receiver before aiortc's receive path (the bots
  count packets, loss and jitter from them), or instead of it (``replace=True``: the
  cheapest receiver, nothing reassembled, no NACK sent).
- ``count_without_decoding``: aiortc's receiver always decodes, in a thread per receiver.
  Installed in a bot process, its receivers hand ``UndecodedFrame``s out of
  ``track.recv()`` instead: frames are counted, never decoded. The whole process is
  affected; bot processes only receive to count.
- ``cap_video_bitrate``: aiortc's VP8 encoder has no bitrate setting; its module bounds
  are lowered for the whole process (the host bot's stream follows the server's REMB up
  to the cap).
- ``patient_consent``: aioice closes a connection after ``CONSENT_FAILURES`` (6) consent
  checks in a row, every ~5 s, each unanswered within 0.5 s and never retransmitted; a
  browser retransmits its checks and gives up only after ~30 s without any answer. On a
  loaded 2-core machine the fan-out benchmark's publisher lost its connection that way
  while subscribers joined (both ends still sending media). The bench's processes wait
  for more failures, for the whole process.

Everything else the bots do goes through aiortc's public API.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

import aiortc.rtcrtpreceiver as _receiver_module
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RtpPacket

RtpHandler = Callable[[RtpPacket, int], Awaitable[None]]
Gather = Callable[..., Awaitable[list[Any]]]


class CompatError(RuntimeError):
    """The installed aiortc/aioice lacks an internal the load tester relies on."""


class _IceConnection(Protocol):
    """aioice's ``Connection``: gathers host candidates on the addresses it is handed."""

    get_component_candidates: Gather


class _HasIceConnection(Protocol):
    """aiortc's ``RTCIceGatherer`` keeps its aioice connection private."""

    _connection: _IceConnection


class _TappableReceiver(Protocol):
    """aiortc's ``RTCRtpReceiver`` takes each RTP packet through this coroutine."""

    _handle_rtp_packet: RtpHandler


_GATHERED_ON = "_loadtest_gathers_on"
_VPX_BOUNDS = ("MAX_BITRATE", "DEFAULT_BITRATE", "MIN_BITRATE")
_lock = threading.Lock()


def _ice_connections(pc: RTCPeerConnection) -> list[_IceConnection]:
    found: list[_IceConnection] = []
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        gatherer = cast(_HasIceConnection, dtls.transport.iceGatherer)
        if all(c is not gatherer._connection for c in found):
            found.append(gatherer._connection)
    return found


def gather_on(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Make every ICE connection of ``pc`` that has not gathered yet use ``addresses``.

    Call after adding transceivers and before ``setLocalDescription``; calling it again
    (a renegotiation that added transceivers) leaves connections already set alone.
    """
    wanted = list(addresses)
    for connection in _ice_connections(pc):
        if getattr(connection, _GATHERED_ON, None) is not None:
            continue
        own = connection.get_component_candidates

        async def on_ours(
            component: int, addresses: list[str], timeout: int = 5, _own: Gather = own
        ) -> list[Any]:
            return await _own(component=component, addresses=wanted, timeout=timeout)

        connection.get_component_candidates = on_ours
        setattr(connection, _GATHERED_ON, tuple(wanted))


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


def _counting_worker(loop: Any, input_q: Any, output_q: Any, *_rest: Any) -> None:
    """In the receiver's thread: each reassembled frame becomes an ``UndecodedFrame``."""
    while True:
        task = input_q.get()
        frame = None if task is None else UndecodedFrame(len(task[1].data))
        try:
            loop.call_soon_threadsafe(output_q.put_nowait, frame)
        except RuntimeError:  # the loop has closed: nobody reads the track any more
            return
        if frame is None:
            return


def count_without_decoding() -> None:
    """Receivers started from now on in this process hand out frames undecoded."""
    with _lock:
        _receiver_module.decoder_worker = _counting_worker  # type: ignore[assignment]


def cap_video_bitrate(kbps: int) -> None:
    """Cap aiortc's VP8 encoder in this process at ``kbps``."""
    from aiortc.codecs import vpx

    top = kbps * 1000
    vpx.MAX_BITRATE = top
    vpx.DEFAULT_BITRATE = min(vpx.DEFAULT_BITRATE, top)
    vpx.MIN_BITRATE = min(vpx.MIN_BITRATE, top)


def patient_consent(failures: int) -> None:
    """Let this process's aioice connections miss ``failures`` consent checks in a row
    (each ~5 s apart) before closing."""
    import aioice.ice

    with _lock:
        aioice.ice.CONSENT_FAILURES = failures


def check() -> None:
    """Raise ``CompatError`` naming what this aiortc/aioice lacks (before any bot starts)."""
    import aioice.ice
    from aioice import Connection
    from aiortc.codecs import vpx

    wanted: list[tuple[object, str, str]] = [
        (_receiver_module, "decoder_worker", "aiortc.rtcrtpreceiver.decoder_worker"),
        (RTCRtpReceiver, "_handle_rtp_packet", "RTCRtpReceiver._handle_rtp_packet"),
        (Connection, "get_component_candidates", "aioice.Connection.get_component_candidates"),
        (aioice.ice, "CONSENT_FAILURES", "aioice.ice.CONSENT_FAILURES"),
    ]
    wanted += [(vpx, name, f"aiortc.codecs.vpx.{name}") for name in _VPX_BOUNDS]
    missing = [label for owner, name, label in wanted if not hasattr(owner, name)]
    if missing:
        raise CompatError(f"aiortc/aioice lacks what the load tester needs: {', '.join(missing)}")
