"""Coalesced socket writes: the frames a socket got since the last flush, in one write.

A chat line in a room of 200 was 200 ``transport.write`` calls, each a ``send`` system
call (on loopback the receiver's TCP work too): a quarter of the server's time under
``loadtest.chat_bench``. ``Flusher`` is shared by an app's sockets. A socket's
``DirectWriter`` that takes a frame while it has none waiting marks itself here; the
first mark schedules one flush of every marked socket, at the end of this loop
iteration (``window`` 0) or ``window`` seconds later, so that the broadcasts of that
span reach each socket in one write. What a socket queues in its outbox (replies, a
close) makes it flush first (``Session``), so order per socket is kept.

``frames`` and ``writes`` count what went through here since the start (``/metrics``).
"""

from __future__ import annotations

import asyncio
import logging

from server.signaling.direct import DirectWriter

logger = logging.getLogger(__name__)


class Flusher:
    """Implements ``direct.Flushes``: flushes every marked writer together."""

    def __init__(self, window: float = 0.0) -> None:
        self.window = window
        self._marked: list[DirectWriter] = []
        self._timer: asyncio.Handle | None = None
        self.frames = 0
        self.writes = 0

    def mark(self, writer: DirectWriter) -> None:
        self._marked.append(writer)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            if self.window > 0:
                self._timer = loop.call_later(self.window, self.flush)
            else:
                self._timer = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what every marked socket has waiting (a socket that flushed meanwhile
        has nothing left and costs nothing)."""
        self._timer = None
        marked, self._marked = self._marked, []
        for writer in marked:
            try:
                writer.flush()
            except Exception:  # one broken transport must not keep the others waiting
                logger.exception("a socket's coalesced write failed")

    def wrote(self, frames: int) -> None:
        """A writer wrote ``frames`` frames in one write (here, or before a reply)."""
        self.frames += frames
        self.writes += 1

    def close(self) -> None:
        """Write what waits and stop the timer (the app stops)."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
