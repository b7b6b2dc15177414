"""The ``Forwarder`` protocol and its two implementations, side by side.

``media.forwarding = "packets"`` (the default): ``PacketForwarder``, whose ``PacketFeed``
(``server/media/feed.py``) forwards RTP packets rewritten per subscriber. ``"frames"``:
``FrameForwarder``, whose ``relay.Feed`` forwards whole encoded frames through aiortc's
jitter buffer and packetizer (kept for the fan-out benchmark). ``RoomMedia`` sees either
through ``Forwarder``, ``MediaFeed`` and ``Outlet`` and never asks which one it holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from server.ids import ParticipantId
from server.media.aiortc_compat import check, check_ice, observe_rtp
from server.media.counters import MediaCounters
from server.media.feed import PacketFeed
from server.media.passthrough import install, mark_passthrough
from server.media.relay import Feed, RelayTrack
from server.media.sink import PacketSink
from server.settings import MediaSettings

# Bytes a subscriber's socket may hold back, per frame the frame path would queue.
LAG_BYTES_PER_FRAME = 1500


class Outlet(Protocol):
    """A subscriber's sender slot: the track its sender holds, moved between feeds."""

    kind: str
    owner: ParticipantId | None

    def switch(self, feed: Any) -> None: ...
    def attach_sender(self, sender: Any) -> None: ...
    def request_keyframe(self) -> None: ...
    def stop(self) -> None: ...


class MediaFeed(Protocol):
    """A room's media slot of one kind, fed by at most one publisher at a time."""

    kind: str
    muted: bool
    frames_in: int
    frames_out: int
    bytes_out: int
    packets_out: int
    on_source_ended: Callable[[], None] | None

    @property
    def publisher(self) -> ParticipantId | None: ...
    @publisher.setter
    def publisher(self, who: ParticipantId | None) -> None: ...
    @property
    def live(self) -> bool: ...
    @property
    def subscriber_count(self) -> int: ...

    def subscribe(self, owner: ParticipantId | None = None) -> Outlet: ...
    def outlet(self, owner: ParticipantId | None) -> Outlet: ...
    def attach(self, source: Any, receiver: Any) -> None: ...
    def detach(self, source: Any = None) -> None: ...
    def request_keyframe(self) -> None: ...
    def take_level(self) -> int | None: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


class Forwarder(Protocol):
    """How a room's published tracks reach its subscribers."""

    counters: MediaCounters

    def feed(self, kind: str, publisher: ParticipantId | None = None) -> MediaFeed:
        """A new feed of ``kind`` (``publisher``: a speaker's own)."""
        ...

    def receiving(self, track: Any, receiver: Any, feed: MediaFeed) -> None:
        """A publisher's ``track`` arrived for ``feed`` (inside ``setRemoteDescription``,
        before its receiver starts): prepare what the feed will read."""
        ...


def outlet_of(track: Any) -> Outlet | None:
    """A sender's track as an ``Outlet``, if it is a relay track or a packet sink."""
    if isinstance(track, RelayTrack | PacketSink):
        outlet: Outlet = track
        return outlet
    return None


class PacketForwarder:
    """RTP packets, rewritten per subscriber (``server/media/feed.py``); the default."""

    def __init__(self, settings: MediaSettings, counters: MediaCounters) -> None:
        check_packet_path()
        self._settings = settings
        self.counters = counters

    def feed(self, kind: str, publisher: ParticipantId | None = None) -> MediaFeed:
        s = self._settings
        return PacketFeed(
            kind,
            s.keyframe_interval,
            publisher,
            lag_bytes=s.subscriber_queue * LAG_BYTES_PER_FRAME,
            remb_bounds=(s.remb_min_kbps * 1000, s.remb_max_kbps * 1000),
            counters=self.counters,
        )

    def receiving(self, track: Any, receiver: Any, feed: MediaFeed) -> None:
        """Nothing to prepare: the feed taps the receiver's packets and reads their levels."""


class FrameForwarder:
    """Whole encoded frames through aiortc's receive and send paths (``relay.py``)."""

    def __init__(self, settings: MediaSettings, counters: MediaCounters) -> None:
        install()
        self._settings = settings
        self.counters = counters

    def feed(self, kind: str, publisher: ParticipantId | None = None) -> MediaFeed:
        s = self._settings
        return Feed(kind, s.subscriber_queue, s.keyframe_interval, publisher, self.counters)

    def receiving(self, track: Any, receiver: Any, feed: MediaFeed) -> None:
        """Keep the receiver's frames encoded, and read audio levels off its packets."""
        mark_passthrough(track)
        if isinstance(feed, Feed) and track.kind == "audio":
            note = feed.note_level

            def read_level(packet: Any) -> None:
                level = packet.extensions.audio_level
                if level is not None:
                    note(int(level[1]))

            observe_rtp(receiver, read_level)


def forwarder_for(settings: MediaSettings, counters: MediaCounters) -> Forwarder:
    """The forwarder ``media.forwarding`` selects, counting into ``counters``."""
    if settings.forwarding == "frames":
        return FrameForwarder(settings, counters)
    return PacketForwarder(settings, counters)


@functools.cache
def check_packet_path() -> None:
    """Refuse to run the packet path on an aiortc whose internals it cannot reach."""
    check()


@functools.cache
def check_media(forwarding: str) -> None:
    """Refuse to start media on an aiortc/aioice whose internals it cannot reach."""
    check_ice()
    if forwarding == "packets":
        check_packet_path()
