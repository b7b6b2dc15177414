"""Media's background tasks: a failure is logged and counted, never lost with its task."""

from __future__ import annotations

import logging

import pytest
from aiortc.mediastreams import VideoStreamTrack

from server.media.counters import MediaCounters
from server.media.relay import Feed
from tests.media.peers import connect, loopback_policy
from tests.support.waiting import eventually

pytestmark = pytest.mark.media


async def test_a_decoded_frame_ending_the_frame_pump_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 10 finding 2: a decoded frame made ``Feed._pump`` raise inside a task nobody
    awaited; the video just stopped, with nothing in the log and nothing counted."""
    caplog.set_level(logging.ERROR, logger="server.media.counters")
    policy, _ = loopback_policy(forwarding="frames")
    counters = MediaCounters()
    feed = Feed("video", counters=counters)
    a, b = await connect(policy, VideoStreamTrack())
    try:
        transceiver = b.getTransceivers()[0]
        # Not marked pass-through: aiortc's decoder hands the feed decoded frames.
        feed.attach(transceiver.receiver.track, transceiver.receiver)
        await eventually(
            lambda: counters.task_failures == 1, timeout=15, what="one failure counted"
        )
        failures = [r for r in caplog.records if "feed's frames failed" in r.getMessage()]
        assert len(failures) == 1
        assert failures[0].exc_info is not None
        assert "VideoFrame" in failures[0].getMessage()
        assert counters.frames_in == 0
    finally:
        feed.close()
        await a.close()
        await b.close()


async def test_a_failing_callback_in_aiortcs_loop_is_counted_by_the_feeds_counters() -> None:
    """The packet path's guard counts into the process counters that ``/metrics`` reads."""
    from server.media.feed import PacketFeed

    policy, _ = loopback_policy()
    counters = MediaCounters()
    feed = PacketFeed("video", counters=counters)
    a, b = await connect(policy, VideoStreamTrack())
    try:
        transceiver = b.getTransceivers()[0]
        feed.attach(transceiver.receiver.track, transceiver.receiver)
        await eventually(lambda: counters.packets_in >= 5, timeout=10, what="5 packets in")
        assert counters.task_failures == 0

        def broken(packet: object) -> None:
            raise RuntimeError("forwarder bug")

        feed._fan_out = broken  # type: ignore[method-assign]
        await eventually(lambda: counters.task_failures >= 3, timeout=10, what="3 failures counted")
        assert b.connectionState == "connected"
    finally:
        feed.close()
        await a.close()
        await b.close()
