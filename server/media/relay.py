"""Selective forwarding: one published track fanned out to many subscribers, no codec work.

A ``Feed`` is a slot of a room ("the host's video"). A publisher's track is attached to it;
every subscriber holds a ``RelayTrack`` on it, which its ``RTCRtpSender`` reads. Frames
arrive as ``EncodedFrame``s (see ``passthrough``) and each subscriber's sender only
repacketizes them, keeping its own sequence numbers and SSRC.

Per subscriber the relay:
- starts video on a keyframe and asks the publisher for one (PLI, throttled) when it joins,
  lags too far behind, or its browser reports picture loss;
- keeps RTP timestamps moving forward when the publisher changes (host reconnects);
- never blocks the publisher: a slow subscriber drops frames, not the room;
- never hands a publisher its own media back (a relay track knows its owner);
- can be moved to another feed, or to none, without ending (``switch``): the sender
  reading it keeps running, so a subscriber's slot is reused when speakers change.

A muted feed drops its publisher's frames at once (nothing reaches any subscriber), and
an audio feed remembers the loudest ``ssrc-audio-level`` seen since it was last asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc.codecs.vpx import PACKET_MAX as VP8_PACKET_MAX
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.ids import ParticipantId
from server.media.aiortc_compat import on_keyframe_request, send_pli
from server.media.counters import MediaCounters
from server.media.keyframes import Keyframer
from server.media.levels import LevelMeter
from server.media.passthrough import EncodedFrame

logger = logging.getLogger(__name__)

# RTP timestamp step assumed between the last frame of one publisher and the first of
# the next: one video frame at 30 fps (90 kHz clock), one 20 ms Opus frame (48 kHz).
REBASE_STEP = {"video": 3000, "audio": 960}
# aiortc's VP8 packetizer cuts a frame into payloads of at most PACKET_MAX bytes, each
# starting with a 4-byte descriptor (15-bit picture id); an Opus frame is one packet.
VP8_CHUNK = VP8_PACKET_MAX - 4


def rtp_packets(kind: str, size: int) -> int:
    """How many RTP packets a subscriber's sender makes of an encoded frame of ``size``."""
    return max(1, -(-size // VP8_CHUNK)) if kind == "video" else 1


class _PliSender:
    """PLI to each source a publisher's receiver heard lately (the frame path's keyframes)."""

    def __init__(self, receiver: Any, counters: MediaCounters) -> None:
        self._receiver = receiver
        self._counters = counters
        self._sending: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        for ssrc in {s.source for s in self._receiver.getSynchronizationSources()}:
            self._counters.keyframe_requests += 1
            task = asyncio.create_task(send_pli(self._receiver, ssrc))
            self._counters.watch(task, "a PLI to a publisher")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)


class RelayTrack(MediaStreamTrack):
    """What one subscriber's sender reads: the feed's frames, retimed for this subscriber."""

    def __init__(
        self, feed: Feed | None, queue_size: int, kind: str, owner: ParticipantId | None = None
    ) -> None:
        super().__init__()
        self.kind = kind
        self.owner = owner
        self._feed = feed
        self._backlog: asyncio.Queue[EncodedFrame | None] = asyncio.Queue(queue_size)
        self._need_keyframe = kind == "video"
        self._rebase = False
        self._offset = 0
        self._last_pts: int | None = None
        self.forwarded = 0
        self.dropped = 0

    @property
    def feed(self) -> Feed | None:
        return self._feed

    def switch(self, feed: Feed | None) -> None:
        """Read from ``feed`` from now on (None: from nothing); the track stays live."""
        if feed is self._feed:
            return
        if self._feed is not None:
            self._feed.unsubscribe(self)
        while not self._backlog.empty():
            self._backlog.get_nowait()
        self._feed = feed
        self.source_changed()
        if feed is not None:
            feed.adopt(self)

    def source_changed(self) -> None:
        """The feed now carries another publisher: restart cleanly on its first keyframe."""
        self._rebase = True
        self._need_keyframe = self.kind == "video"

    def push(self, frame: EncodedFrame) -> None:
        if self._need_keyframe:
            if not frame.keyframe:
                self.dropped += 1
                self.request_keyframe()
                return
            self._need_keyframe = False
        if self._rebase or self._last_pts is None:
            if self._last_pts is not None:
                self._offset = self._last_pts + REBASE_STEP[self.kind] - frame.pts
            self._rebase = False
        pts = frame.pts + self._offset
        self._last_pts = pts
        try:
            self._backlog.put_nowait(frame if self._offset == 0 else frame.with_pts(pts))
            self.forwarded += 1
        except asyncio.QueueFull:
            # The subscriber's sender is not keeping up: drop what is queued and restart on
            # the next keyframe rather than deliver a growing backlog.
            self.dropped += self._backlog.qsize() + 1
            while not self._backlog.empty():
                self._backlog.get_nowait()
            self._need_keyframe = self.kind == "video"
            self.request_keyframe()

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._backlog.get()
        if frame is None:
            raise MediaStreamError
        if self._feed is not None:
            self._feed.count_forwarded(frame)
        return frame

    def attach_sender(self, sender: Any) -> None:
        """The browser's PLI/FIR must reach the publisher: the sender's own keyframe flag
        is only read by its encoder, which forwarding never uses."""
        on_keyframe_request(sender, self.request_keyframe)

    def request_keyframe(self) -> None:
        """Called when this subscriber's browser sends PLI/FIR."""
        if self._feed is not None:
            self._feed.request_keyframe()

    def stop(self) -> None:
        if self._feed is not None:
            self._feed.unsubscribe(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._backlog.put_nowait(None)
        super().stop()


class Feed(LevelMeter):
    """A room's media slot of one kind, fed by at most one publisher track at a time."""

    def __init__(
        self,
        kind: str,
        queue_size: int = 64,
        keyframe_interval: float = 0.5,
        publisher: ParticipantId | None = None,
        counters: MediaCounters | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        # The process's totals (``/metrics``); this feed's own figures follow below.
        self.counters = counters if counters is not None else MediaCounters()
        # Who feeds it; their own relay tracks get nothing from it.
        self.publisher = publisher
        self.frames_muted = 0
        self._queue_size = queue_size
        self._keyframe_interval = keyframe_interval
        self._subscribers: set[RelayTrack] = set()
        self._source: MediaStreamTrack | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._keyframer: Keyframer | None = None
        self.frames_in = 0
        # What subscribers' senders took from this feed (``/metrics``: forwarded media).
        self.frames_out = 0
        self.bytes_out = 0
        self.packets_out = 0
        self.on_source_ended: Callable[[], None] | None = None

    @property
    def live(self) -> bool:
        return self._source is not None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def subscribers(self) -> tuple[RelayTrack, ...]:
        return tuple(self._subscribers)

    def subscribe(self, owner: ParticipantId | None = None) -> RelayTrack:
        track = RelayTrack(self, self._queue_size, self.kind, owner)
        self.adopt(track)
        return track

    def outlet(self, owner: ParticipantId | None) -> RelayTrack:
        """A relay track on no feed yet (a stage slot nobody occupies)."""
        return RelayTrack(None, self._queue_size, self.kind, owner)

    def adopt(self, track: RelayTrack) -> None:
        """Start feeding ``track`` (made by ``subscribe`` or moved here by ``switch``)."""
        self._subscribers.add(track)
        if self.live:
            self.request_keyframe()

    def count_forwarded(self, frame: EncodedFrame) -> None:
        """A subscriber's sender took ``frame``: count it, its bytes and its RTP packets."""
        size = len(frame.data)
        packets = rtp_packets(self.kind, size)
        self.frames_out += 1
        self.bytes_out += size
        self.packets_out += packets
        counters = self.counters
        counters.frames_out += 1
        counters.bytes_out += size
        counters.packets_out += packets

    def unsubscribe(self, track: RelayTrack) -> None:
        self._subscribers.discard(track)

    def attach(self, source: MediaStreamTrack, receiver: Any) -> None:
        """Start forwarding ``source``; a previous source is detached first."""
        self.detach()
        self._source = source
        self._keyframer = Keyframer(_PliSender(receiver, self.counters), self._keyframe_interval)
        for sub in self._subscribers:
            sub.source_changed()
        self._pump_task = self.counters.watch(
            asyncio.create_task(self._pump(source), name=f"feed-{self.kind}"),
            f"forwarding the {self.kind} feed's frames",
        )

    def detach(self, source: MediaStreamTrack | None = None) -> None:
        """Stop forwarding (only ``source``, when given and still current)."""
        if source is not None and source is not self._source:
            return
        if self._pump_task is not None:
            self._pump_task.cancel()
            self._pump_task = None
        if self._keyframer is not None:
            self._keyframer.cancel()
            self._keyframer = None
        self._source = None

    def request_keyframe(self) -> None:
        if self._keyframer is not None and self.kind == "video":
            self._keyframer.request()

    async def _pump(self, source: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await source.recv()
                if not isinstance(frame, EncodedFrame):
                    # Only pass-through receivers feed a Feed; a decoded frame is a bug.
                    raise TypeError(f"feed {self.kind} got {type(frame).__name__}")
                self.frames_in += 1
                self.counters.frames_in += 1
                if self.muted:
                    # Muted by the host or by themself: nothing leaves the server.
                    self.frames_muted += 1
                    continue
                for sub in tuple(self._subscribers):
                    if sub.owner is None or sub.owner != self.publisher:
                        sub.push(frame)
        except MediaStreamError:
            logger.debug("feed %s: publisher track ended", self.kind)
        if self._source is source:
            self._source = None
            self._pump_task = None
            if self.on_source_ended is not None:
                self.on_source_ended()

    def release(self) -> None:
        """The publisher is gone for good: detach, and leave every relay track on no feed
        (their senders keep running, ready for the next feed switched in)."""
        self.detach()
        for sub in tuple(self._subscribers):
            sub.switch(None)

    def close(self) -> None:
        self.detach()
        for sub in tuple(self._subscribers):
            sub.stop()
