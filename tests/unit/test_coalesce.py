"""Coalesced socket writes (server/signaling/coalesce.py): the frames one socket takes in a
loop iteration (or a window) go out in one write, in order, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio

from server.signaling.coalesce import Flusher
from server.signaling.direct import DirectWriter, wire
from tests.unit.test_direct import Recording


class CountingTransport(Recording):
    """A recording transport that also counts its writes."""

    def __init__(self, pending: int = 0) -> None:
        super().__init__(pending)
        self.writes = 0

    def write(self, data: object) -> None:
        self.writes += 1
        super().write(data)


async def test_the_frames_of_one_iteration_reach_each_socket_in_one_write() -> None:
    flusher = Flusher()
    a, b = CountingTransport(), CountingTransport()
    to_a, to_b = DirectWriter(a, flusher=flusher), DirectWriter(b, flusher=flusher)
    frames = [wire(f"message {i}") for i in range(5)]
    for frame in frames:
        assert to_a.write(frame) and to_b.write(frame)
    assert a.writes == b.writes == 0  # taken, not written yet
    await asyncio.sleep(0)  # the flush runs at the end of this iteration
    await asyncio.sleep(0)
    assert bytes(a.data) == bytes(b.data) == b"".join(frames)
    assert a.writes == b.writes == 1
    assert (flusher.frames, flusher.writes) == (10, 2)


async def test_a_window_gathers_the_frames_of_several_iterations() -> None:
    flusher = Flusher(window=0.05)
    socket = CountingTransport()
    writer = DirectWriter(socket, flusher=flusher)
    for i in range(3):
        assert writer.write(wire(f"line {i}"))
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    assert bytes(socket.data) == b"".join(wire(f"line {i}") for i in range(3))
    assert socket.writes == 1 and (flusher.frames, flusher.writes) == (3, 1)


async def test_an_early_flush_keeps_order_and_the_later_one_writes_nothing_twice() -> None:
    """A reply queued behind broadcasts makes the session flush first: the flusher's own
    pass then has nothing left for that socket, and later frames still go out after."""
    flusher = Flusher()
    socket = CountingTransport()
    writer = DirectWriter(socket, flusher=flusher)
    writer.write(wire("first"))
    writer.flush()  # what the session does before queueing a reply
    socket.write(wire("reply"))  # the reply, written by another path
    writer.write(wire("second"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert bytes(socket.data) == wire("first") + wire("reply") + wire("second")
    assert (flusher.frames, flusher.writes) == (2, 2)


async def test_frames_waiting_count_against_the_buffer_limit() -> None:
    flusher = Flusher()
    writer = DirectWriter(CountingTransport(pending=0), limit=5, flusher=flusher)
    frame = wire("12345678")  # 10 bytes
    assert writer.write(frame)  # nothing held yet
    assert not writer.write(frame)  # 10 bytes held, over the limit: the session queues it
    assert writer.pending == 1


async def test_frames_for_a_socket_that_closed_meanwhile_are_dropped() -> None:
    flusher = Flusher()
    socket = CountingTransport()
    writer = DirectWriter(socket, flusher=flusher)
    writer.write(wire("late"))
    socket.closing = True
    flusher.close()
    assert socket.writes == 0 and writer.pending == 0 and flusher.frames == 0
