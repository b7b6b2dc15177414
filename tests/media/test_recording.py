"""Recording a live room (issue 16): a real aiortc host publishes through the server's
packet path; the host's VP8 and Opus land in a WebM file as sent, never decoded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.codecs.vpx import vp8_depayload

from server.ids import RoomId
from server.media.feed import PacketFeed
from server.media.rtp_rewrite import InPacket
from server.rooms.media import RoomMedia
from tests.media.conftest import Closing
from tests.media.peers import loopback_policy, publish_host
from tests.support.waiting import eventually

pytestmark = pytest.mark.media

RECORD_SECONDS = 3.0


@pytest.fixture
async def media() -> AsyncIterator[RoomMedia]:
    policy, settings = loopback_policy()
    room = RoomMedia(RoomId("recorded"), policy, settings, lambda live, who: None)
    yield room
    await room.stop_recording()
    await room.close()


class Sent:
    """What the publisher's packets carried, seen where the recorder's tap is."""

    def __init__(self) -> None:
        self.opus: list[bytes] = []
        self.vp8_frames: list[bytes] = []
        self._parts: dict[int, list[bytes]] = {}

    def wrap(self, feed: PacketFeed) -> None:
        tap = feed.on_packet
        assert tap is not None

        def observe(packet: InPacket) -> None:
            if feed.kind == "audio":
                self.opus.append(packet.payload)
            else:
                self._parts.setdefault(packet.ts, []).append(vp8_depayload(packet.payload))
                if packet.marker:
                    self.vp8_frames.append(b"".join(self._parts.pop(packet.ts)))
            tap(packet)

        feed.on_packet = observe


def read_webm(path: Path) -> dict[str, list[Any]]:
    packets: dict[str, list[Any]] = {"vp8": [], "opus": []}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size:
                packets[packet.stream.codec_context.name].append(packet)
    return packets


async def test_the_host_is_recorded_to_webm_without_transcoding(
    media: RoomMedia, closing: Closing, tmp_path: Path
) -> None:
    policy, _ = loopback_policy()
    closing(await publish_host(media, policy))
    feeds = [media.feeds["audio"], media.feeds["video"]]
    await eventually(lambda: all(f.frames_in > 10 for f in feeds), timeout=15, what="media in")
    path = tmp_path / "session.webm"
    recorder = media.start_recording(path)
    assert recorder is not None
    sent = Sent()
    for feed in feeds:
        assert isinstance(feed, PacketFeed)
        sent.wrap(feed)
    await asyncio.sleep(RECORD_SECONDS)
    stats = await media.stop_recording()
    assert stats is not None and not stats.failed and stats.queue_dropped == 0

    packets = read_webm(path)
    assert packets["vp8"] and packets["opus"]
    # The file's bytes are the publisher's frames: nothing was decoded and encoded again.
    assert [bytes(p) for p in packets["opus"]] == sent.opus[-len(packets["opus"]) :]
    video = [bytes(p) for p in packets["vp8"]]
    assert video == sent.vp8_frames[-len(video) :]
    assert packets["vp8"][0].is_keyframe
    with av.open(str(path)) as container:
        codecs = {s.codec_context.name for s in container.streams}
        assert codecs == {"vp8", "opus"}
        video_stream = container.streams.video[0]
        assert (video_stream.codec_context.width, video_stream.codec_context.height) == (640, 480)
    # Timed by the RTP timestamps: the file lasts about as long as was sent.
    last_ms = max(p.pts for p in packets["opus"])
    assert abs(last_ms / 1000 - RECORD_SECONDS) < 0.6, last_ms
    span = (packets["vp8"][-1].pts - packets["vp8"][0].pts) / 1000
    assert abs(span - RECORD_SECONDS) < 0.8, span
    assert abs(stats.audio_frames - len(packets["opus"])) == 0
