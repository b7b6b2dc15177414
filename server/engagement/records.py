"""The record framing shared by the spill and the journal files: each record is
``<4-byte big-endian length><encoded event>``. Pure functions, no I/O."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

HEADER: Final = struct.Struct(">I")


def pack(payloads: Iterable[bytes]) -> bytes:
    """The framed records of ``payloads``, in order."""
    return b"".join(HEADER.pack(len(p)) + p for p in payloads)


def unpack(data: bytes) -> tuple[list[bytes], int]:
    """The complete records at the start of ``data``, and the offset just after the last;
    anything after it is a torn record (a crash mid-write)."""
    payloads: list[bytes] = []
    offset = 0
    view = memoryview(data)
    while offset + HEADER.size <= len(data):
        (length,) = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if end > len(data):
            break
        payloads.append(bytes(view[offset + HEADER.size : end]))
        offset = end
    return payloads, offset
