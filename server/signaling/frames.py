"""Encoded frames shared by every recipient of one room event.

A room event reaches each participant's session in turn, in the same loop iteration, and
encoding it again for every recipient cost about as much as sending it. ``FrameCache``
keeps the last few frames keyed by the identity of the object they were built from (a
``Room.broadcast`` event dict, a frozen ``Participant``), and holds a reference to that
object so its identity cannot be reused while the frame is cached. Next to the encoded
message it keeps the whole WebSocket frame (``direct.wire``) that sessions write straight
to their sockets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from server.signaling.direct import wire
from server.signaling.messages import encode_frame

Frame = str | bytes


class FrameCache:
    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str, bool], tuple[object, Frame, bytes]] = (
            OrderedDict()
        )
        self.hits = 0
        self.misses = 0

    def frame(
        self, source: object, tag: str, binary: bool, build: Callable[[], dict[str, Any]]
    ) -> Frame:
        """The frame for ``build()``, encoded once per ``(source, tag, encoding)``."""
        return self.frames(source, tag, binary, build)[0]

    def frames(
        self, source: object, tag: str, binary: bool, build: Callable[[], dict[str, Any]]
    ) -> tuple[Frame, bytes]:
        """The encoded message and its whole WebSocket frame, built once for all."""
        key = (id(source), tag, binary)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is source:
            self.hits += 1
            return entry[1], entry[2]
        self.misses += 1
        frame = encode_frame(build(), binary)
        self._entries[key] = (source, frame, wire(frame))
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return frame, self._entries[key][2]
