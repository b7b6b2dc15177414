"""Speakers on stage, with real aiortc peers over loopback: slots, renegotiation, mute, levels.

The subscriber here is an aiortc peer that does what the room page does: it offers the
main audio+video pair, then, when stage slots appear, adds recvonly audio transceivers
and re-offers on the same connection.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
from collections.abc import AsyncIterator
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from server.ids import ParticipantId, RoomId
from server.media.ice import IcePolicy
from server.media.peers import RoomMedia
from tests.media.conftest import Closing
from tests.media.peers import Peer, loopback_policy, publish_host, subscribe
from tests.support.waiting import eventually

pytestmark = pytest.mark.media


class ToneTrack(AudioStreamTrack):
    """A loud 440 Hz tone, 20 ms frames at 48 kHz (aiortc's AudioStreamTrack is silence)."""

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        frame: av.AudioFrame = await super().recv()
        n = frame.samples
        tone = array.array(
            "h",
            (
                int(12000 * math.sin(2 * math.pi * 440 * (i + self._samples) / 48000))
                for i in range(n)
            ),
        )
        self._samples += n
        out = av.AudioFrame(format="s16", layout="mono", samples=n)
        out.planes[0].update(tone.tobytes())
        out.sample_rate = 48000
        out.pts = frame.pts
        out.time_base = fractions.Fraction(1, 48000)
        return out


@pytest.fixture
async def stage_room() -> AsyncIterator[tuple[RoomMedia, IcePolicy, dict[str, list[Any]]]]:
    policy, settings = loopback_policy()
    told: dict[str, list[Any]] = {"tracks": [], "levels": []}
    media = RoomMedia(RoomId("stage"), policy, settings, lambda live, who: None)
    media.on_tracks_changed = lambda: told["tracks"].append(media.tracks_json())
    media.on_levels = lambda speaking, levels: told["levels"].append((speaking, levels))
    yield media, policy, told
    await media.close()


async def publish_speaker(media: RoomMedia, policy: IcePolicy, who: str) -> Peer:
    speaker = Peer(policy)
    speaker.pc.addTrack(ToneTrack())
    speaker._configure(speaker.pc, policy)
    await speaker.pc.setLocalDescription(await speaker.pc.createOffer())
    offer = speaker.pc.localDescription.sdp
    answer = await media.answer(ParticipantId(who), "pub", offer, stage=True)
    await speaker.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return speaker


async def reoffer(peer: Peer, media: RoomMedia, who: str, audio_slots: int) -> str:
    """Add recvonly audio transceivers up to ``audio_slots`` and renegotiate ``sub``."""
    have = sum(1 for t in peer.pc.getTransceivers() if t.kind == "audio") - 1
    for _ in range(audio_slots - have):
        peer.pc.addTransceiver("audio", direction="recvonly")
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    answer = await media.answer(ParticipantId(who), "sub", peer.pc.localDescription.sdp)
    await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return answer


def slot_directions(answer: str) -> list[str]:
    """The direction of each audio m-line in an SDP answer, in order."""
    out: list[str] = []
    current = None
    for line in answer.splitlines():
        if line.startswith("m="):
            current = line.split()[0][2:]
        elif current == "audio" and line in ("a=sendonly", "a=inactive", "a=recvonly"):
            out.append(line[2:])
    return out


async def test_speaker_audio_reaches_a_subscriber_after_renegotiation(
    stage_room: Any, closing: Closing
) -> None:
    media, policy, told = stage_room
    member = closing(await subscribe(media, policy, "m1"))
    sub_pc_before = media.peer(ParticipantId("m1"), "sub")
    closing(await publish_speaker(media, policy, "s1"))
    await eventually(
        lambda: told["tracks"] and told["tracks"][-1]["audio"] == ["s1"], what="s1's stage slot"
    )

    answer = await reoffer(member, media, "m1", audio_slots=1)
    # Same peer connection on the server: renegotiated, not replaced.
    assert media.peer(ParticipantId("m1"), "sub") is sub_pc_before
    assert slot_directions(answer) == ["sendonly", "sendonly"]
    feed = media.stage_feed(ParticipantId("s1"), "audio")
    assert feed is not None
    await eventually(lambda: len(member.tracks) >= 3, what="the slot's track at the member")
    slot_track = member.tracks[-1]
    assert slot_track.kind == "audio"
    frames = 0
    for _ in range(10):
        await asyncio.wait_for(slot_track.recv(), 5)
        frames += 1
    assert frames == 10
    assert feed.frames_in >= 10

    # Levels: the tone is loud, so the speaker is reported as speaking.
    await eventually(
        lambda: any("s1" in speaking for speaking, _ in told["levels"]), what="s1 speaking"
    )
    levels = next(lv for s, lv in told["levels"] if "s1" in s)
    assert levels["s1"] > 0.6

    # Mute: the server stops forwarding at once and stops reporting the speaker.
    media.set_muted(ParticipantId("s1"), True)
    since_mute = len(told["levels"])  # every report from here on was sampled after the mute
    muted_at = feed.frames_muted
    await eventually(lambda: feed.frames_muted > muted_at + 5, what="muted frames held back")
    # Marker: the reporter's one report once nobody speaks; while s1 were still heard as
    # speaking it would never come.
    await eventually(
        lambda: any(not speaking for speaking, _ in told["levels"][since_mute:]),
        what="the report that nobody speaks any more",
    )
    assert all("s1" not in speaking for speaking, _ in told["levels"][since_mute:])
    media.set_muted(ParticipantId("s1"), False)

    # The speaker leaves the stage: the slot empties and the next answer makes it inactive.
    await media.stop(ParticipantId("s1"), "pub")
    assert told["tracks"][-1]["audio"] == []
    answer = await reoffer(member, media, "m1", audio_slots=1)
    assert media.peer(ParticipantId("m1"), "sub") is sub_pc_before
    assert slot_directions(answer) == ["sendonly", "inactive"]


async def test_a_speaker_never_receives_their_own_audio(stage_room: Any, closing: Closing) -> None:
    media, policy, told = stage_room
    speaker_sub = closing(await subscribe(media, policy, "s1"))
    closing(await publish_speaker(media, policy, "s1"))
    await eventually(lambda: bool(told["tracks"]), what="the speaker's stage slot")
    answer = await reoffer(speaker_sub, media, "s1", audio_slots=1)
    assert slot_directions(answer) == ["sendonly", "inactive"]


async def test_host_is_not_sent_their_own_stream(stage_room: Any, closing: Closing) -> None:
    """The host's page subscribes too (to hear speakers): the main feeds skip their owner."""
    media, policy, _ = stage_room
    closing(await publish_host(media, policy))
    closing(await subscribe(media, policy, "host"))
    other = closing(await subscribe(media, policy, "m1"))
    video = next(t for t in other.tracks if t.kind == "video")
    await asyncio.wait_for(video.recv(), 10)
    own = media.feeds["video"].subscribers
    mine = [t for t in own if t.owner == "host"]
    assert mine and all(t.forwarded == 0 for t in mine)
