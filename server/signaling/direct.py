"""A broadcast's WebSocket frame, built once, written straight to each socket's transport.

Through aiohttp, every recipient of a broadcast cost a queue put, a wake-up of its
session's writer task, a ``send_str`` coroutine and a frame header. Server frames are
unmasked and (``compress=False`` in the handler) uncompressed, so a broadcast's frame is
the same bytes for everyone: ``wire`` builds it once (RFC 6455, section 5.2), and
``DirectWriter.write`` hands it to one transport, which is all the work a recipient
costs. It only does so when nothing is queued ahead on that socket and the transport's
buffer is small: otherwise the session queues the frame (order kept), and a socket that
does not read is closed by its outbox, never waited on.

With a ``Flusher`` (``server/signaling/coalesce.py``) a writer does not write each frame
at once: it keeps the frames of one loop iteration (or of a short window) and writes them
in one ``transport.write`` when the flusher says so. One system call per socket per
flush instead of one per message; the client still reads separate WebSocket messages.

This module owns that seam with aiohttp: it uses the request's public ``transport``
(``asyncio.Transport``: ``write``, ``is_closing``, ``get_write_buffer_size``) and
nothing private; ``tests/unit/test_direct.py`` checks its frames against aiohttp's own
writer.
"""

from __future__ import annotations

import struct
from typing import Protocol

OP_TEXT = 0x1
OP_BINARY = 0x2
FIN = 0x80
# Bytes a transport may hold unsent before frames for it are queued instead (kernel
# buffer full: the client is slow; its outbox decides whether it catches up).
BUFFER_LIMIT = 64 * 1024


def wire(payload: str | bytes) -> bytes:
    """The whole frame for ``payload``: text for ``str``, binary for ``bytes``."""
    if isinstance(payload, str):
        data, opcode = payload.encode("utf-8"), OP_TEXT
    else:
        data, opcode = payload, OP_BINARY
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", FIN | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", FIN | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", FIN | opcode, 127, size)
    return header + data


class Transport(Protocol):
    """What is used of a transport (asyncio's, or uvloop's, which is not a subclass)."""

    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


def transport_of(candidate: object) -> Transport | None:
    """``candidate`` (a request's transport) if it offers what ``DirectWriter`` uses."""
    needed = ("write", "is_closing", "get_write_buffer_size")
    if candidate is not None and all(callable(getattr(candidate, n, None)) for n in needed):
        return candidate  # type: ignore[return-value]
    return None


class Flushes(Protocol):
    """Where a writer says it has frames waiting (``coalesce.Flusher``)."""

    def mark(self, writer: DirectWriter) -> None: ...

    def wrote(self, frames: int) -> None: ...


class DirectWriter:
    """Writes whole frames to one socket's transport while it keeps up: at once, or, with
    a ``flusher``, all the frames since the last flush in one write."""

    def __init__(
        self, transport: Transport, limit: int = BUFFER_LIMIT, flusher: Flushes | None = None
    ) -> None:
        self._transport = transport
        self._limit = limit
        self._flusher = flusher
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    @property
    def pending(self) -> int:
        """Frames taken but not written yet."""
        return len(self._pending)

    def write(self, frame: bytes) -> bool:
        """Take ``frame`` if the transport takes it without piling up; else False (the
        frames taken before it are still written first: the caller queues it behind)."""
        transport = self._transport
        if (
            transport.is_closing()
            or transport.get_write_buffer_size() + self._pending_bytes > self._limit
        ):
            return False
        if self._flusher is None:
            transport.write(frame)
            return True
        if not self._pending:
            self._flusher.mark(self)
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        return True

    def flush(self) -> None:
        """Write the frames taken since the last flush in one write (dropped when the
        socket is closing: nobody would read them)."""
        pending = self._pending
        if not pending:
            return
        self._pending, self._pending_bytes = [], 0
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if self._flusher is not None:
            self._flusher.wrote(len(pending))
