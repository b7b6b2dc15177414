"""Contract of ``loadtest/rtc_compat.py`` (the load tester's only reach into aiortc and
aioice internals) with the installed versions: the check, and every accessor on real
peers over loopback (run inside the loopback-only namespace, where aioice alone would
find no address to gather on)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver
import pytest
from aiortc import (
    RTCInboundRtpStreamStats,
    RTCPeerConnection,
    RTCRtpReceiver,
)
from aiortc.codecs import vpx
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket

from loadtest.rtc import configure_peer, loopback_policy, new_peer, wait_connected
from loadtest.rtc_compat import (
    CompatError,
    UndecodedFrame,
    cap_video_bitrate,
    check,
    count_without_decoding,
    patient_consent,
    tap_rtp,
)
from loadtest.synthetic import PatternVideoTrack

pytestmark = pytest.mark.media

CONNECT_TIMEOUT = 20.0


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def pair(
    on_receiver: Callable[[RTCRtpReceiver], None] | None = None,
    video: MediaStreamTrack | None = None,
) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A bot publishing synthetic VP8 (``video``, else the pattern encoded live) to a bot
    receiving it, both with the loopback policy; ``on_receiver`` runs on the receiving side
    as its track arrives."""
    policy = loopback_policy()
    a, b = new_peer(policy), new_peer(policy)
    a.addTransceiver(video or PatternVideoTrack(320, 240), direction="sendonly")
    if on_receiver is not None:
        b.on("track", lambda track: on_receiver(b.getTransceivers()[0].receiver))
    configure_peer(a, policy)  # each side before it gathers, as the bots do
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    configure_peer(b, policy)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await asyncio.gather(wait_connected(a), wait_connected(b))
    return a, b


def inbound_packets(stats: Any) -> int:
    """RTP packets aiortc's receive path handled (its inbound-rtp statistics)."""
    return sum(s.packetsReceived for s in stats.values() if isinstance(s, RTCInboundRtpStreamStats))


def test_the_installed_aiortc_has_every_internal_the_load_tester_reaches() -> None:
    check()


def test_a_missing_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_handle_rtp_packet")
    monkeypatch.delattr(aiortc.rtcrtpreceiver, "decoder_worker")
    with pytest.raises(CompatError) as raised:
        check()
    assert "RTCRtpReceiver._handle_rtp_packet" in str(raised.value)
    assert "aiortc.rtcrtpreceiver.decoder_worker" in str(raised.value)


async def test_gather_on_offers_loopback_and_the_peers_connect_there() -> None:
    a, b = await pair()
    try:
        for pc in (a, b):
            candidates = [
                line for line in pc.localDescription.sdp.splitlines() if "a=candidate" in line
            ]
            assert candidates, "no ICE candidate at all"
            assert all(" 127.0.0.1 " in line for line in candidates), candidates
        assert a.connectionState == b.connectionState == "connected"
    finally:
        await a.close()
        await b.close()


async def test_tap_rtp_sees_packets_and_aiortc_still_delivers_frames() -> None:
    packets: list[RtpPacket] = []
    a, b = await pair(lambda receiver: tap_rtp(receiver, packets.append))
    try:
        track = b.getTransceivers()[0].receiver.track
        async with asyncio.timeout(CONNECT_TIMEOUT):
            frame = await track.recv()  # aiortc's own receive path went on
        assert not isinstance(frame, UndecodedFrame)
        await until(lambda: len(packets) >= 5)
        assert packets[0].payload and packets[0].ssrc
        assert inbound_packets(await b.getTransceivers()[0].receiver.getStats()) > 0
    finally:
        await a.close()
        await b.close()


async def test_tap_rtp_with_replace_is_the_whole_receive_path() -> None:
    packets: list[RtpPacket] = []
    a, b = await pair(lambda receiver: tap_rtp(receiver, packets.append, replace=True))
    try:
        await until(lambda: len(packets) >= 20)
        stats = await b.getTransceivers()[0].receiver.getStats()
        # The 20 packets are the marker: aiortc's own bookkeeping, which counts every RTP
        # packet it handles, would have counted them by now.
        assert inbound_packets(stats) == 0
    finally:
        await a.close()
        await b.close()


async def test_count_without_decoding_hands_out_undecoded_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Restored after the test: the rest of this process decodes as before.
    monkeypatch.setattr(
        aiortc.rtcrtpreceiver, "decoder_worker", aiortc.rtcrtpreceiver.decoder_worker
    )
    count_without_decoding()
    a, b = await pair()
    try:
        track = b.getTransceivers()[0].receiver.track
        async with asyncio.timeout(CONNECT_TIMEOUT):
            frames = [await track.recv() for _ in range(3)]
        assert all(isinstance(f, UndecodedFrame) and f.size > 0 for f in frames)
    finally:
        await a.close()
        await b.close()


def test_cap_video_bitrate_bounds_the_vp8_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_BITRATE", "DEFAULT_BITRATE", "MIN_BITRATE"):
        monkeypatch.setattr(vpx, name, getattr(vpx, name))
    cap_video_bitrate(200)
    assert vpx.MAX_BITRATE == 200_000
    assert vpx.DEFAULT_BITRATE <= 200_000 and vpx.MIN_BITRATE <= 200_000


def test_patient_consent_is_what_aioice_counts_missed_checks_against(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", aioice.ice.CONSENT_FAILURES)
    patient_consent(24)
    # aioice reads the module's constant in its consent loop (Connection.query_consent).
    assert aioice.ice.CONSENT_FAILURES == 24
    assert "CONSENT_FAILURES" in inspect.getsource(aioice.ice.Connection.query_consent)
