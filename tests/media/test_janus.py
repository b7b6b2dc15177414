"""The fan-out benchmark's Janus driver, end to end: Debian's Janus started inside the
namespace with the generated configuration, an aiortc publisher in a VideoRoom, and one
subscriber bot that must count whole video and audio frames through it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from benchmarks._peers import SubscriberBot
from benchmarks.janus_api import publish, publisher_feed
from benchmarks.janus_server import janus_room
from loadtest.rtc import (
    configure_peer,
    loopback_policy,
    new_peer,
    prefer_forwarded_codecs,
    wait_connected,
)
from loadtest.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.support.waiting import eventually

pytestmark = pytest.mark.media


async def test_an_aiortc_subscriber_gets_video_and_audio_through_janus() -> None:
    publisher = new_peer()
    bot = SubscriberBot("janus-sub")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        janus_room(http, rtp_ports="43000-43199") as (_, session),
    ):
        try:
            publisher.addTrack(ToneAudioTrack())
            publisher.addTrack(PatternVideoTrack())
            prefer_forwarded_codecs(publisher)
            feed = await publish(
                session, publisher, lambda: configure_peer(publisher, loopback_policy())
            )
            async with asyncio.timeout(10):
                await wait_connected(publisher)
            assert await publisher_feed(session) == feed
            await bot.start_janus(session, feed)  # raises unless a whole video frame came
            await eventually(
                lambda: bot.counts,
                what="10 whole video and audio frames through Janus",
                until=lambda c: c["audio_frames"] >= 10 and c["video_frames"] >= 10,
            )
            assert bot.pc.connectionState == "connected"
        finally:
            await bot.close()
            await publisher.close()
