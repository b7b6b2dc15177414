"""The seam with aiohttp: frames built by ``server.signaling.direct`` are the bytes
aiohttp's own WebSocket writer puts on the wire for the same message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.writer import WebSocketWriter

from server.signaling.direct import DirectWriter, wire


class Recording(asyncio.Transport):
    """A transport that keeps what is written (a real class, not a mock)."""

    def __init__(self, pending: int = 0) -> None:
        super().__init__()
        self.data = bytearray()
        self.pending = pending
        self.closing = False

    def write(self, data: Any) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.pending


class Protocol:
    _paused = False


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("binary", [False, True])
async def test_frames_match_aiohttps_writer(size: int, binary: bool) -> None:
    payload: str | bytes = b"\xa5" * size if binary else "é" * (size // 2) + "x" * (size % 2)
    theirs = Recording()
    writer = WebSocketWriter(Protocol(), theirs)  # type: ignore[arg-type]
    data = payload if isinstance(payload, bytes) else payload.encode()
    await writer.send_frame(data, WSMsgType.BINARY if binary else WSMsgType.TEXT)
    assert wire(payload) == bytes(theirs.data)


def test_a_transport_that_piles_up_or_closes_is_not_written_to() -> None:
    ok, full, closing = Recording(), Recording(pending=70_000), Recording()
    closing.closing = True
    assert DirectWriter(ok, limit=65536).write(b"\x81\x00")
    assert not DirectWriter(full, limit=65536).write(b"\x81\x00")
    assert not DirectWriter(closing).write(b"\x81\x00")
    assert bytes(ok.data) == b"\x81\x00" and not full.data and not closing.data
