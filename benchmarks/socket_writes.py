"""What a socket write costs the server: one ``send`` per frame versus frames joined.

The server's side of a broadcast is, per recipient, one ``transport.write`` of a small
WebSocket frame (``server/signaling/direct.py``), unless the frames of a loop iteration
or a window are joined first (``server/signaling/coalesce.py``). This measures the two
costs that choice trades, on loopback, in CPU time (so a busy machine slows it down but
skews it less than a wall-clock share): ``--sockets`` TCP connections to a reader process
that drains them (pinned to another core when there are two), and this process sending
``--frames`` frames of ``--size`` bytes to each, ``k`` frames joined per ``send``.

It prints the CPU per send and per frame for each ``k``, then, from a fit of those, the
expected writes and CPU at chat_bench's rate for a few write windows: a window of ``W``
seconds gathers what arrives while it is open, so a socket that gets ``r`` frames a
second is written about ``r / (1 + r W)`` times a second (arrivals at random).

    python -m benchmarks.socket_writes [--sockets 200] [--frames 400] [--size 150]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import selectors
import socket
import time
from multiprocessing.connection import Connection

GROUPS = (1, 2, 4, 8, 16)
WINDOWS = (0.0, 0.001, 0.002, 0.005, 0.010)


def _reader(port: int, sockets: int, pipe: Connection, cpu: int | None) -> None:
    """Connect ``sockets`` times and read everything until told to stop."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    selector = selectors.DefaultSelector()
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    for conn in conns:
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
    pipe.send("ready")
    while not pipe.poll():
        for key, _ in selector.select(timeout=0.05):
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
    for conn in conns:
        conn.close()


def _send_all(conns: list[socket.socket], payload: bytes, sends: int) -> float:
    """CPU seconds this process spent sending ``payload`` ``sends`` times to each socket."""
    start = time.process_time()
    for _ in range(sends):
        for conn in conns:
            conn.sendall(payload)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.socket_writes")
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--frames", type=int, default=4000, help="frames per socket per k")
    parser.add_argument("--size", type=int, default=150, help="bytes per frame")
    parser.add_argument("--rate", type=float, default=130.0, help="frames/s per socket")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    pinned = len(cores) >= 2
    if pinned:
        os.sched_setaffinity(0, {cores[0]})
    listener = socket.create_server(("127.0.0.1", 0), backlog=args.sockets)
    port = listener.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    reader = ctx.Process(
        target=_reader, args=(port, args.sockets, child, cores[1] if pinned else None)
    )
    reader.start()
    conns = [listener.accept()[0] for _ in range(args.sockets)]
    parent.recv()
    frame = b"\x81" + bytes([126 if args.size >= 126 else args.size]) + b"x" * args.size
    try:
        _send_all(conns, frame, 50)  # warm up
        print(
            f"socket_writes: {args.sockets} loopback sockets, {len(frame)}-byte frames, "
            f"{args.frames} frames per socket per row (sender pinned: {pinned})"
        )
        print(f"  {'k':>3}{'sends':>9}{'CPU s':>8}{'µs/send':>9}{'µs/frame':>10}")
        rows: list[tuple[int, float]] = []
        for k in GROUPS:
            sends = args.frames // k
            cpu = _send_all(conns, frame * k, sends)
            per_send = cpu / (sends * args.sockets)
            rows.append((k, per_send))
            print(f"  {k:>3}{sends * args.sockets:>9}{cpu:>8.2f}"
                  f"{per_send * 1e6:>9.2f}{per_send / k * 1e6:>10.2f}")  # fmt: skip
    finally:
        parent.send("stop")
        reader.join(10)
        for conn in conns:
            conn.close()
        listener.close()
    # cost(send of k frames) ~ fixed + k * per_frame: least squares over the rows.
    n = len(rows)
    mean_k = sum(k for k, _ in rows) / n
    mean_c = sum(c for _, c in rows) / n
    slope = sum((k - mean_k) * (c - mean_c) for k, c in rows) / sum(
        (k - mean_k) ** 2 for k, _ in rows
    )
    fixed = mean_c - slope * mean_k
    print(f"fit: {fixed * 1e6:.2f} µs per send + {slope * 1e6:.2f} µs per frame in it")
    r = args.rate
    print(f"at {r:.0f} frames/s per socket to {args.sockets} sockets ({r * args.sockets:,.0f}/s):")
    for window in WINDOWS:
        writes = r / (1 + r * window) if window else r
        cpu = args.sockets * (writes * fixed + r * slope)
        print(f"  window {window * 1000:>4.0f} ms: {writes * args.sockets:>7,.0f} writes/s, "
              f"{cpu * 100:>5.1f}% of a core")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
