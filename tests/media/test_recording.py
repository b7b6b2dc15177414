"""Recording a live room (issue 16): a real aiortc host publishes through the server's
packet path; the host's VP8 and Opus land in a WebM file as sent, never decoded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription
from aiortc.codecs.vpx import vp8_depayload
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from server.ids import ParticipantId, RoomId
from server.media.feed import PacketFeed
from server.media.ice import configure_peer
from server.media.rtp_rewrite import InPacket
from server.rooms.media import RoomMedia
from tests.media.conftest import Closing
from tests.media.peers import Peer, loopback_policy, publish_host
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


async def publish(media: RoomMedia, policy: Any, who: str, *, stage: bool = False) -> Peer:
    peer = Peer(policy)
    peer.pc.addTrack(VideoStreamTrack())
    peer.pc.addTrack(AudioStreamTrack())
    configure_peer(peer.pc, policy)
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    offer = peer.pc.localDescription.sdp
    answer = await media.answer(ParticipantId(who), "pub", offer, stage=stage)
    await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return peer


async def test_only_the_host_feed_is_recorded_across_a_change_of_host(
    media: RoomMedia, closing: Closing, tmp_path: Path
) -> None:
    """A speaker on the stage is not in the file; when another host takes the main feeds
    the file goes on with them, its times still following the wall clock. Bug pinned: the
    second host's video packets, numbered behind the first host's, were taken for late
    ones, and none of their video was recorded."""
    policy, _ = loopback_policy()
    closing(await publish(media, policy, "host"))
    closing(await publish(media, policy, "speaker", stage=True))
    speaker_video = media.stage_feed(ParticipantId("speaker"), "video")
    assert speaker_video is not None
    feeds = [media.feeds["audio"], media.feeds["video"]]
    await eventually(lambda: all(f.frames_in > 10 for f in feeds), timeout=15, what="media in")
    path = tmp_path / "session.webm"
    assert media.start_recording(path) is not None
    sent = Sent()
    for feed in feeds:
        assert isinstance(feed, PacketFeed)
        sent.wrap(feed)
    started = time.monotonic()
    await asyncio.sleep(1.5)
    await media.stop(ParticipantId("host"), "pub")
    closing(await publish(media, policy, "host-2"))
    await eventually(lambda: media.publisher == "host-2", what="the second host publishing")
    speaker_frames = speaker_video.frames_in
    await asyncio.sleep(2.0)
    stats = await media.stop_recording()
    wall = time.monotonic() - started
    assert stats is not None and not stats.failed
    assert speaker_video.frames_in > speaker_frames + 20  # the speaker went on publishing

    packets = read_webm(path)
    # Only the main feeds' packets are in the file, in their order: none of the speaker's.
    assert [bytes(p) for p in packets["opus"]] == sent.opus[-len(packets["opus"]) :]
    assert len(packets["vp8"]) <= len(sent.vp8_frames)
    assert stats.width == 640
    # Both hosts are in it, and the times follow the wall clock through the change.
    pts = [p.pts for p in packets["opus"]]
    assert pts == sorted(pts)
    assert abs(pts[-1] / 1000 - wall) < 0.8, (pts[-1], wall)
    assert min(p.pts for p in packets["vp8"]) < 1000 and max(p.pts for p in packets["vp8"]) > 2500


async def test_closing_the_media_closes_a_recording_still_running(
    media: RoomMedia, closing: Closing, tmp_path: Path
) -> None:
    """A room closed by a path that runs no close hook (a hand-over between nodes) must not
    leave the recorder's thread running and its file unfinished."""
    policy, _ = loopback_policy()
    closing(await publish_host(media, policy))
    video = media.feeds["video"]
    await eventually(lambda: video.frames_in > 10, timeout=15, what="media in")
    recorder = media.start_recording(tmp_path / "closed.webm")
    assert recorder is not None
    await eventually(lambda: recorder.stats.video_frames > 10, timeout=15, what="frames written")
    await media.close()
    assert media.recording is None
    assert not recorder.running
    assert read_webm(tmp_path / "closed.webm")["vp8"]
