"""Contract of ``server/media/aiortc_compat.py`` with the installed aiortc and aioice: the
start-up check, and every accessor exercised on real peers over loopback."""

from __future__ import annotations

import asyncio
import pathlib
import re
from typing import Any

import pytest
from aiortc.mediastreams import VideoStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket

from server.media import aiortc_compat
from server.media.aiortc_compat import (
    CompatError,
    ReceiverTap,
    SenderTap,
    check,
    check_ice,
    observe_rtp,
)
from server.media.ice import IcePolicy
from server.settings import MediaSettings, SettingsError
from tests.media.peers import connect, loopback_policy
from tests.support.waiting import eventually

pytestmark = pytest.mark.media


def test_the_installed_aiortc_has_every_internal_the_packet_path_reaches() -> None:
    check()


def test_a_missing_internal_is_named_and_the_way_out_is_said(monkeypatch: Any) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    monkeypatch.setattr(RTCRtpSender, "_run_rtcp", lambda self, extra: None)
    with pytest.raises(CompatError) as raised:
        check()
    message = str(raised.value)
    assert "RTCRtpReceiver._send_rtcp_pli" in message
    assert "RTCRtpSender._run_rtcp" in message
    assert 'media.forwarding = "frames"' in message


def test_the_server_refuses_to_start_the_packet_path_without_them(monkeypatch: Any) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    from server.media import forwarders

    def forget() -> None:
        forwarders.check_packet_path.cache_clear()
        forwarders.check_media.cache_clear()

    forget()
    try:
        with pytest.raises(SettingsError):
            IcePolicy.from_settings(MediaSettings(forwarding="packets"))
        IcePolicy.from_settings(MediaSettings(forwarding="frames"))  # the frame path starts
    finally:
        forget()


def test_salon_serve_refuses_to_start_in_one_line(monkeypatch: Any, capsys: Any) -> None:
    """``salon serve`` on an aiortc missing an internal exits 2 with one line naming it."""
    from aiohttp import web

    from server.cli.main import main
    from server.media import forwarders

    def served(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the server started")

    monkeypatch.setattr(web, "run_app", served)
    monkeypatch.setenv("SALON_SECRET", "compat-test-secret-0123456789abcdef")
    monkeypatch.setenv("SALON_REDIS_URL", "redis://127.0.0.1:9")
    monkeypatch.delenv("SALON_CONFIG", raising=False)
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    forwarders.check_packet_path.cache_clear()
    forwarders.check_media.cache_clear()
    try:
        assert main(["serve", "--port", "0"]) == 2
    finally:
        forwarders.check_packet_path.cache_clear()
        forwarders.check_media.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("salon: settings: aiortc ")
    assert "RTCRtpReceiver._send_rtcp_pli" in err
    assert 'media.forwarding = "frames"' in err


def test_ice_and_frame_path_internals_are_checked_too(monkeypatch: Any) -> None:
    check_ice()
    import aiortc.rtcrtpreceiver

    monkeypatch.delattr(aiortc.rtcrtpreceiver, "decoder_worker")
    with pytest.raises(CompatError, match="decoder_worker"):
        check_ice()


async def test_receiver_tap_takes_packets_after_srtp_and_keeps_aiortcs_bookkeeping() -> None:
    policy, _ = loopback_policy()
    packets: list[RtpPacket] = []
    rtcp: list[Any] = []
    a, b = await connect(policy, VideoStreamTrack())
    try:
        receiver = b.getTransceivers()[0].receiver
        tap = ReceiverTap(receiver)
        tap.install(lambda p, t: packets.append(tap.media_packet(p, t) or p), rtcp.append)
        await eventually(lambda: len(packets) >= 10, what="10 packets at the tap")
        first = packets[0]
        assert tap.clock_rate(first.payload_type) == 90000
        assert first.payload  # the VP8 payload, not depacketized
        assert {s.source for s in receiver.getSynchronizationSources()} == {first.ssrc}
        stats = await receiver.getStats()
        assert any(getattr(s, "packetsReceived", 0) >= 10 for s in stats.values())
        await eventually(
            lambda: any(type(p).__name__ == "RtcpSrPacket" for p in rtcp), what="a sender report"
        )
        tap.send_pli(first.ssrc)
        tap.send_nack(first.ssrc, [first.sequence_number])
        tap.send_remb(300_000, [first.ssrc])
        await asyncio.sleep(0.2)
        assert tap.failures == 0
        tap.close()
        count = len(packets)
        # Marker: packets that reach the receiver after the close, seen by an observer.
        later: list[RtpPacket] = []
        observe_rtp(receiver, later.append)
        await eventually(lambda: len(later) >= 5, what="5 packets after the close")
        assert len(packets) == count  # closed: none of them reached the tap's callback
    finally:
        await a.close()
        await b.close()


async def test_a_failing_packet_handler_is_counted_and_does_not_end_the_connection() -> None:
    """Regression guard: an exception in the forwarder's callback propagated into aiortc's
    DTLS loop, which would close the publisher's connection and stop the room's media."""
    policy, _ = loopback_policy()
    calls: list[int] = []

    def broken(packet: RtpPacket, arrival_time_ms: int) -> None:
        calls.append(packet.sequence_number)
        raise RuntimeError("forwarder bug")

    a, b = await connect(policy, VideoStreamTrack())
    try:
        tap = ReceiverTap(b.getTransceivers()[0].receiver)
        tap.install(broken, lambda packet: None)
        await eventually(lambda: len(calls) >= 20, what="20 calls of the failing handler")
        assert tap.guard.failures >= 20
        assert b.connectionState == "connected"
    finally:
        await a.close()
        await b.close()


class Idle(VideoStreamTrack):
    """A track that never yields: its sender's own loop stays idle."""

    async def recv(self) -> Any:
        await asyncio.get_running_loop().create_future()


async def test_sender_tap_starts_with_the_negotiated_parameters_and_writes_srtp() -> None:
    policy, _ = loopback_policy()
    started: list[Any] = []
    feedback: list[Any] = []
    taps: list[SenderTap] = []
    a, b = await connect(
        policy,
        Idle(),
        lambda sender: taps.append(SenderTap(sender, started.append, feedback.append)),
    )
    tap = taps[0]
    try:
        await eventually(lambda: bool(started), what="the sender tap started")
        parameters = started[0]
        assert parameters.codecs[0].mimeType.lower() == "video/vp8"
        assert parameters.muxId is not None
        seen: list[RtpPacket] = []
        observe_rtp(b.getTransceivers()[0].receiver, seen.append)
        pt = parameters.codecs[0].payloadType
        packet = RtpPacket(payload_type=pt, sequence_number=7, timestamp=90, ssrc=tap.ssrc)
        packet.payload = b"\x90\x80\x00\x01\x00"
        await eventually(lambda: tap.out.send_rtp(packet.serialize()), what="the packet sent")
        await eventually(lambda: bool(seen), what="the packet at the receiver")
        assert (seen[0].ssrc, seen[0].sequence_number, seen[0].timestamp) == (tap.ssrc, 7, 90)
        assert tap.out.backlog() == 0
        # The subscriber's receiver reports reach the callback (and aiortc's statistics).
        await eventually(lambda: bool(feedback), timeout=15, what="receiver reports")
    finally:
        await a.close()
        await b.close()


# A private attribute read off an aiortc/aioice object, by the names such objects go by,
# or one of the internals the compatibility module reaches.
PRIVATE_REACH = re.compile(
    r"\b(?:receiver|sender|track|transceiver|pc|dtls|ice|ice_transport|connection|gatherer"
    r"|iceGatherer|transport)\._[a-zA-Z]"
    r"|\._(?:handle_rtp|send_rtcp|tx_srtp|RTCRtp|nominated|send_keyframe|protocols|recv\b"
    r"|queue\b|salon_|connection\b|run_rtcp)"
    r"|decoder_worker = |get_component_candidates = "
)
# The one seam, rtcseams/ (not scanned): the package both the server and the load tester
# (which may not import the server: loadtest/ speaks only the wire) reach aiortc's internals
# through. Their doors, server/media/aiortc_compat.py and loadtest/rtc_compat.py, are scanned.
# The client seam's contract test names the internal its refusal message must name.
CONTRACT_TESTS = {"tests/loadtest/test_rtc_compat.py"}


def test_rtcseams_is_the_only_package_reaching_aiortc_internals() -> None:
    """Issue 10 finding 2: private aiortc attributes were reached from six files; issue 12:
    still from two (the server's and the load tester's compat modules)."""
    root = pathlib.Path(aiortc_compat.__file__).parent.parent.parent
    found: list[str] = []
    for folder in ("server", "loadtest", "benchmarks", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name in CONTRACT_TESTS or path == pathlib.Path(__file__):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if PRIVATE_REACH.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    assert not found, found


def test_the_private_reach_pattern_sees_what_it_must() -> None:
    """The scan above must be able to fail: each kind of reach it guards against matches."""
    for line in (
        "original = receiver._handle_rtp_packet",
        "connection._salon_ice = True",
        "ice._recv = recv",
        "queue = track._queue",
        "cast(Any, dtls.transport.iceGatherer)._connection",
        "connection.get_component_candidates = gather",
    ):
        assert PRIVATE_REACH.search(line), line
    assert not PRIVATE_REACH.search("self._backlog.get_nowait()")


async def test_send_stamped_writes_each_copys_header_and_forgets_a_closed_transport() -> None:
    """Issue 12: the packet path keeps each sender's resolved target (DTLS, SRTP session,
    socket, address) between writes and protects in libsrtp's buffer; a copy must carry
    the sequence number, timestamp and SSRC it was stamped with, and a target whose DTLS
    transport closed must not be written to any more."""
    policy, _ = loopback_policy()
    started: list[Any] = []
    taps: list[SenderTap] = []
    a, b = await connect(
        policy,
        Idle(),
        lambda sender: taps.append(SenderTap(sender, started.append, lambda p: None)),
    )
    tap = taps[0]
    try:
        await eventually(lambda: bool(started), what="the sender tap started")
        seen: list[RtpPacket] = []
        observe_rtp(b.getTransceivers()[0].receiver, seen.append)
        template = RtpPacket(payload_type=started[0].codecs[0].payloadType, marker=1)
        template.payload = b"\x90\x80\x00\x01\x00" * 40
        raw = template.serialize()
        await eventually(
            lambda: tap.out.send_stamped(raw, 4242, 777, tap.ssrc), what="the first copy sent"
        )
        assert tap.out.send_stamped(raw, 4243, 778, tap.ssrc)  # the kept target
        await eventually(lambda: len(seen) >= 2, what="both copies at the receiver")
        got = [(p.ssrc, p.sequence_number, p.timestamp, p.marker, p.payload) for p in seen[:2]]
        assert got == [
            (tap.ssrc, 4242, 777, 1, template.payload),
            (tap.ssrc, 4243, 778, 1, template.payload),
        ]
        with pytest.raises(ValueError, match="too long"):
            tap.out.send_stamped(raw + bytes(1400), 1, 1, tap.ssrc)
        await a.close()
        assert not tap.out.send_stamped(raw, 4244, 779, tap.ssrc)
        assert not tap.out.send_rtp(raw)
    finally:
        await a.close()
        await b.close()
