"""What the installed aiortc/aioice lacks of the internals this package reaches.

Each function returns the missing internals by name (empty: all there); the caller words
the refusal for its own reader (``salon serve`` names the setting that avoids it, the
load tester names the versions to install).
"""

from __future__ import annotations

import inspect

import aiortc
import aiortc.rtcrtpreceiver as _receiver_module
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

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
    "_RTCRtpSender__transport",
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
_VPX_BOUNDS = ("MAX_BITRATE", "DEFAULT_BITRATE", "MIN_BITRATE")


def aiortc_version() -> str:
    version: str = aiortc.__version__
    return version


def missing_for_ice() -> list[str]:
    """The ICE and frame-path internals (both forwarding paths) that are missing."""
    from aioice.ice import Connection
    from aiortc.rtcicetransport import RTCIceGatherer
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    return [
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


def missing_for_packet_path() -> list[str]:
    """The internals the packet forwarder reaches that are missing or changed shape."""
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
    return missing + _missing_from_libsrtp() + _missing_for_fast_send()


def _missing_for_fast_send() -> list[str]:
    # ``fastsend`` needs its C part built and the calls it hooks to exist.
    from rtcseams import fastsend

    missing = [] if fastsend.BUILT else ["rtcseams._fastsend (built by `pip install -e .`)"]
    if fastsend.BUILT:
        missing += [
            f"{cls.__module__}.{cls.__name__}.{name}"
            for cls, name in fastsend.BUMPED
            if not getattr(getattr(cls, name, None), "__salon_bumps__", False)
        ]
    return missing


def _missing_from_libsrtp() -> list[str]:
    # ``SrtpOut.send_stamped`` protects in the session's own buffer through libsrtp.
    from pylibsrtp import Session, _binding

    names = Session.__init__.__code__.co_names
    missing = [f"pylibsrtp.Session.{a}" for a in ("_cdata", "_buffer", "_srtp") if a not in names]
    if not hasattr(_binding.lib, "srtp_protect"):
        missing.append("pylibsrtp lib.srtp_protect")
    return missing


def missing_for_client() -> list[str]:
    """What the load tester's bots reach (client side) that is missing."""
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
    return [label for owner, name, label in wanted if not hasattr(owner, name)]
