"""Encoded frames shared by every recipient of one room event.

A room event reaches each participant's session in turn, in the same loop iteration, and
encoding it again for every recipient cost about as much as sending it. ``FrameCache``
keeps the last few frames keyed by the identity of the object they were built from (a
``Room.broadcast`` event dict, a frozen ``Participant``), and holds a reference to that
object so its identity cannot be reused while the frame is cached. Next to the encoded
message it keeps the whole WebSocket frame (``direct.wire``) that sessions write straight
to their sockets.

A message that cannot be encoded at all is logged once and cached as ``None``: every
recipient then drops it, and the broadcast goes on for everyone else.

``event`` is the room event's way in, asked once per recipient: its last answer is kept
apart, so that the 199 members after the first cost a comparison each and no allocation.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from server.signaling.direct import wire
from server.signaling.messages import encode_frame
from server.signaling.privacy import for_members

logger = logging.getLogger(__name__)

Frame = str | bytes
Built = tuple[Frame, bytes] | None


class FrameCache:
    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str, bool], tuple[object, Built]] = OrderedDict()
        # The last frame handed out: a broadcast asks for the same one once per recipient.
        self._last: tuple[object, str, bool, Built] | None = None
        self._last_event: tuple[object, str, bool, bool, Built] | None = None
        self.hits = 0
        self.misses = 0

    def frame(
        self, source: object, tag: str, binary: bool, build: Callable[[], dict[str, Any]]
    ) -> Frame | None:
        """The frame for ``build()``, encoded once per ``(source, tag, encoding)``; None
        when it cannot be encoded (logged once)."""
        built = self.frames(source, tag, binary, build)
        return None if built is None else built[0]

    def event(self, payload: dict[str, Any], kind: str, binary: bool, moderator: bool) -> Built:
        """The frames of room event ``kind``: as it is for moderators, for everyone else
        without others' tiers and scores (one encoding for all members)."""
        last = self._last_event
        if (
            last is not None
            and last[0] is payload
            and last[2] is binary
            and last[3] is moderator
            and last[1] == kind
        ):
            self.hits += 1
            return last[4]
        if moderator:
            built = self.frames(payload, kind, binary, lambda: {"type": kind, **payload})
        else:
            built = self.frames(
                payload, f"{kind}/members", binary, lambda: for_members({"type": kind, **payload})
            )
        self._last_event = (payload, kind, binary, moderator, built)
        return built

    def frames(
        self, source: object, tag: str, binary: bool, build: Callable[[], dict[str, Any]]
    ) -> Built:
        """The encoded message and its whole WebSocket frame, built once for all; None
        when it cannot be encoded (logged once)."""
        last = self._last
        if last is not None and last[0] is source and last[2] is binary and last[1] == tag:
            self.hits += 1
            return last[3]
        key = (id(source), tag, binary)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is source:
            self.hits += 1
            self._entries.move_to_end(key)
            self._last = (source, tag, binary, entry[1])
            return entry[1]
        self.misses += 1
        built: Built
        try:
            frame = encode_frame(build(), binary)
            built = (frame, wire(frame))
        except Exception as exc:  # one bad event must not stop the room's broadcasts
            logger.error("dropping a %s broadcast that cannot be encoded: %r", tag, exc)
            built = None
        self._entries[key] = (source, built)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        self._last = (source, tag, binary, built)
        return built
