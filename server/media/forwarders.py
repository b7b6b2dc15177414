"""Which forwarder carries a room's media, and what ``RoomMedia`` needs from either.

``media.forwarding = "packets"`` (the default): ``server/media``'s ``PacketFeed``
forwards RTP packets, rewritten per subscriber. ``"frames"``: ``relay.Feed``
forwards whole encoded frames through aiortc's jitter buffer and packetizer (kept for
the fan-out benchmark). ``RoomMedia`` sees both through ``MediaFeed`` and ``Outlet``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from server.ids import ParticipantId
from server.media.aiortc_compat import check, check_ice
from server.media.feed import PacketFeed
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


OUTLETS = (RelayTrack, PacketSink)


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


def make_feed(
    settings: MediaSettings, kind: str, publisher: ParticipantId | None = None
) -> MediaFeed:
    if settings.forwarding == "frames":
        return Feed(kind, settings.subscriber_queue, settings.keyframe_interval, publisher)
    check_packet_path()
    return PacketFeed(
        kind,
        settings.keyframe_interval,
        publisher,
        lag_bytes=settings.subscriber_queue * LAG_BYTES_PER_FRAME,
        remb_bounds=(settings.remb_min_kbps * 1000, settings.remb_max_kbps * 1000),
    )
