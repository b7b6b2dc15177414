"""The packet path under loss, with real aiortc peers over loopback: NACKs answered from
the feed's cache, frames complete, no freeze, and sender reports that keep lip sync.

Loss is injected between the server and the subscriber on the subscriber's side
(``tests/media/lossy.py``): 3 % of the RTP datagrams it receives are thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc.rtp import RtcpSrPacket, RtpPacket

from rtcseams import fastsend
from server.ids import ParticipantId, RoomId
from server.media.aiortc_compat import observe_rtcp, observe_rtp
from server.media.feed import PacketFeed
from server.media.ice import IcePolicy
from server.media.peers import RoomMedia
from server.media.sink import PacketSink
from tests.media.lossy import drop_incoming
from tests.media.peers import loopback_policy, publish_host, subscribe
from tests.support.waiting import eventually

pytestmark = pytest.mark.media

NTP_EPOCH = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
RUN_SECONDS = 6.0


@pytest.fixture
async def room() -> AsyncIterator[tuple[RoomMedia, IcePolicy]]:
    policy, settings = loopback_policy()
    media = RoomMedia(RoomId("lossy"), policy, settings, lambda live, who: None)
    yield media, policy
    await media.close()


def sink_of(feed: Any, owner: str) -> PacketSink:
    assert isinstance(feed, PacketFeed)
    return next(s for s in feed.subscribers if s.owner == ParticipantId(owner))


async def test_nacks_are_answered_and_frames_arrive_whole_under_3_percent_loss(
    room: Any,
) -> None:
    media, policy = room
    host = await publish_host(media, policy)
    member = await subscribe(media, policy, "m1")
    try:
        video = next(t for t in member.tracks if t.kind == "video")
        await asyncio.wait_for(video.recv(), 10)
        sink = sink_of(media.feeds["video"], "m1")
        assert sink.layout is not None and sink.layout.rtx_payload_type is not None
        loss = drop_incoming(member.pc, 0.03, spare=frozenset({sink.layout.rtx_payload_type}))
        sent_before = sink.forwarded
        arrivals: list[float] = []
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):  # a freeze: measured below
                await asyncio.wait_for(video.recv(), 2)
            arrivals.append(time.monotonic())
        frames_sent = sink.forwarded - sent_before  # one packet per synthetic delta frame
        lost = loss.dropped_by_ssrc[sink.ssrc]
        assert lost >= 3, "the loss hook dropped too little video to prove anything"
        # aiortc's receiver NACKs each gap once; a few NACKs may cross a switch of epoch.
        assert sink.retransmitted >= 0.8 * lost, (sink.retransmitted, lost)
        assert len(arrivals) >= 0.95 * frames_sent, (len(arrivals), frames_sent)
        freeze = max(b - a for a, b in itertools.pairwise(arrivals))
        assert freeze < 1.0, f"video froze for {freeze:.2f} s"
    finally:
        for pc in (host.pc, member.pc):
            await pc.close()


class Clock:
    """What one subscriber's receiver saw: its packets' timestamps and the last SR."""

    def __init__(self, clock_rate: int) -> None:
        self.rate = clock_rate
        self.sr: tuple[float, int] | None = None  # (NTP as Unix seconds, RTP timestamp)
        self.offsets: list[float] = []

    def on_rtcp(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            ntp = (info.ntp_timestamp >> 32) - NTP_EPOCH + (info.ntp_timestamp & 0xFFFFFFFF) / 2**32
            self.sr = (ntp, info.rtp_timestamp)

    def on_rtp(self, packet: RtpPacket) -> None:
        if self.sr is None:
            return
        ntp, rtp = self.sr
        delta = ((packet.timestamp - rtp + 2**31) % 2**32) - 2**31
        captured = ntp + delta / self.rate
        self.offsets.append(time.time() - captured)


async def test_audio_and_video_map_onto_the_same_sender_report_clock(room: Any) -> None:
    """Lip sync: each subscriber stream's SR maps its RTP timestamps onto the publisher's
    clock, so audio and video packets sent together are placed together."""
    media, policy = room
    host = await publish_host(media, policy)
    member = await subscribe(media, policy, "m1")
    try:
        drop_incoming(member.pc, 0.03)
        clocks = {"audio": Clock(48000), "video": Clock(90000)}
        for transceiver in member.pc.getTransceivers():
            clock = clocks[transceiver.kind]
            observe_rtp(transceiver.receiver, clock.on_rtp)
            observe_rtcp(transceiver.receiver, clock.on_rtcp)
        await eventually(
            lambda: min(len(c.offsets) for c in clocks.values()) >= 50,
            timeout=15,
            what="50 sender reports per stream",
        )
        audio = statistics.median(clocks["audio"].offsets)
        video = statistics.median(clocks["video"].offsets)
        # Both are "arrival minus capture" on one clock: equal but for encoding time.
        assert abs(audio - video) < 0.1, (audio, video)
        assert abs(audio) < 1.0 and abs(video) < 1.0, (audio, video)
    finally:
        for pc in (host.pc, member.pc):
            await pc.close()


async def test_subscribers_remb_bounds_what_the_publisher_is_told(room: Any) -> None:
    media, policy = room
    host = await publish_host(media, policy)
    member = await subscribe(media, policy, "m1")
    try:
        feed = media.feeds["video"]
        assert isinstance(feed, PacketFeed)
        await eventually(lambda: feed.remb_reports > 0, timeout=15, what="a REMB report")
        bound = feed.remb_bound()
        assert bound is not None and 150_000 <= bound <= 2_500_000
    finally:
        for pc in (host.pc, member.pc):
            await pc.close()


async def test_steady_subscribers_are_served_by_the_c_path_through_other_peers_joining(
    room: Any,
) -> None:
    """Once anchored, a subscriber's packets go out through ``rtcseams._fastsend``; a
    second member joining (DTLS and ICE changes elsewhere in the process) makes the first
    one's transport be checked again, and it stays on the C path without a hole."""
    media, policy = room
    host = await publish_host(media, policy)
    member = await subscribe(media, policy, "m1")
    others: list[Any] = []
    try:
        video = next(t for t in member.tracks if t.kind == "video")
        await asyncio.wait_for(video.recv(), 10)
        sink = sink_of(media.feeds["video"], "m1")
        await eventually(lambda: sink.fast is not None, what="m1 on the C path")
        fast = sink.fast
        assert fast is not None
        sent_by_c = fast.forwarded
        generation = fastsend.generation()
        others.append(await subscribe(media, policy, "m2"))
        assert fastsend.generation() > generation
        second = sink_of(media.feeds["video"], "m2")
        await eventually(lambda: second.fast is not None, what="m2 on the C path")
        for _ in range(30):
            await asyncio.wait_for(video.recv(), 2)
        assert sink.fast is fast and fast.forwarded > sent_by_c + 20
    finally:
        for pc in (host.pc, member.pc, *(o.pc for o in others)):
            await pc.close()
