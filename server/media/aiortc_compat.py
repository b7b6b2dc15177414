"""The server's door to ``rtcseams``, the one package reaching aiortc's and aioice's
private internals.

Modules of ``server/media`` import what they need of aiortc's internals from here, never
from ``rtcseams`` directly, so that the server's use of them is listed in one place:

- ``ReceiverTap``, ``SenderTap``, ``SrtpOut`` and ``Guard`` for the packet path, and
  ``FastOut``/``FastGroup``/``Outgoing`` for its steady state in C;
- ``send_pli``, ``on_keyframe_request``, ``observe_rtp``/``observe_rtcp``,
  ``decoder_worker``/``set_decoder_worker`` and ``track_queue`` for the frame path;
- ``ice_connection``, ``take_over_gathering`` and ``add_ice_protocols`` for
  ``server/media/ice.py``; ``filter_incoming`` for the tests' packet loss;
- ``check``/``check_ice`` at start-up: ``salon serve`` refuses to start, in one line
  (a ``SettingsError`` naming the setting that avoids it), when an internal is missing
  or its signature changed. ``tests/media/test_aiortc_compat.py`` exercises every
  accessor on real peers.
"""

from __future__ import annotations

from rtcseams.checks import aiortc_version, missing_for_ice, missing_for_packet_path
from rtcseams.fastsend import PROTECT_FAILED as FAST_PROTECT_FAILED
from rtcseams.fastsend import STALE as FAST_STALE
from rtcseams.fastsend import FastGroup, FastOut, Outgoing
from rtcseams.guards import Count, Guard
from rtcseams.ice import (
    Gather,
    add_ice_protocols,
    filter_incoming,
    ice_connection,
    take_over_gathering,
)
from rtcseams.process import set_decoder_worker
from rtcseams.receiver import (
    ReceiverTap,
    RtcpCallback,
    RtpCallback,
    decoder_worker,
    observe_rtcp,
    observe_rtp,
    send_pli,
    track_queue,
)
from rtcseams.sender import SenderTap, SrtpOut, SrtpProtectError, on_keyframe_request
from server.settings import SettingsError

__all__ = [
    "FAST_PROTECT_FAILED",
    "FAST_STALE",
    "CompatError",
    "Count",
    "FastGroup",
    "FastOut",
    "Gather",
    "Guard",
    "Outgoing",
    "ReceiverTap",
    "RtcpCallback",
    "RtpCallback",
    "SenderTap",
    "SrtpOut",
    "SrtpProtectError",
    "add_ice_protocols",
    "check",
    "check_ice",
    "decoder_worker",
    "filter_incoming",
    "ice_connection",
    "observe_rtcp",
    "observe_rtp",
    "on_keyframe_request",
    "send_pli",
    "set_decoder_worker",
    "take_over_gathering",
    "track_queue",
]


class CompatError(SettingsError):
    """The installed aiortc/aioice lacks an internal the packet path relies on.

    A ``SettingsError``: the server refuses to start and says which setting avoids it.
    """


def check_ice() -> None:
    """Raise ``CompatError`` if the ICE and frame-path internals are missing (both paths)."""
    missing = missing_for_ice()
    if missing:
        raise CompatError(
            f"aiortc {aiortc_version()} lacks internals Salon's media needs: "
            + ", ".join(missing)
            + ". Install the versions pyproject.toml pins."
        )


def check() -> None:
    """Raise ``CompatError`` naming every internal missing from the installed aiortc."""
    missing = missing_for_packet_path()
    if missing:
        raise CompatError(
            f"aiortc {aiortc_version()} lacks internals the packet forwarder needs: "
            + ", ".join(missing)
            + '. Install the pinned versions, or set media.forwarding = "frames".'
        )
