"""The floor under any forwarder's per-subscriber cost: one SRTP protect and one UDP send.

Every RTP packet a forwarder sends a subscriber costs, whatever it is written in, one
SRTP protect with that subscriber's keys and one ``sendto`` system call on that
subscriber's socket (aiortc, like Janus, gives each peer connection its own socket, so
nothing batches the sends of one packet to several subscribers). On loopback the
``sendto`` also carries the receiving side's network stack up to the reader's socket
and its wake-up, as it does in ``benchmarks.fanout``, whose subscriber bots read on the
other core. This measures those two costs the way the fan-out pays them: ``--subscribers``
UDP sockets on uvloop (one per subscriber, as aioice's), a reader process on the other
core draining ``--subscribers`` sockets, packets of ``--size`` bytes sent to every
subscriber in turn ``--rate`` times a second, and libsrtp's protect (pylibsrtp's public
``Session.protect``, which copies in and out: an upper bound for the packet path's
in-buffer protect). The same two steps are then measured from C, as the packet path now
takes them: one ``rtcseams.fastsend`` call per packet protects and sends it to every
subscriber (sessions of their own, the same sockets): the floor proper, with no Python
per send. CPU time of the sending thread, so a busy machine skews it less than a
wall-clock share; median of ``--repeats`` runs.

It prints the floor per send and, given the fan-out's figures (``--packet-us``,
``--frame-us``: ``µs/pkt`` of the packet and frame paths from ``benchmarks.fanout``), what
the packet path spends above the floor and what it would have to cost to be 2.5× cheaper
than the frame path.

    python -m benchmarks.send_floor [--subscribers 100] [--rate 195] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import selectors
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvloop
from pylibsrtp import Policy, Session

from loadtest.procs import plan_cores
from rtcseams.fastsend import FastGroup, FastOut, Outgoing, sockaddr

RTP_HEADER = bytes.fromhex("80600000000000640000abcd")


def _reader(sockets: int, pipe: Connection, cpus: frozenset[int] | None) -> None:
    """Open ``sockets`` UDP sockets, report their ports, read until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    selector = selectors.DefaultSelector()
    socks = []
    for _ in range(sockets):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        socks.append(sock)
    pipe.send([s.getsockname()[1] for s in socks])
    received = 0
    while not pipe.poll():
        for key, _ in selector.select(timeout=0.05):
            with contextlib.suppress(BlockingIOError):
                while True:
                    key.fileobj.recv(2048)  # type: ignore[union-attr]
                    received += 1
    pipe.recv()
    pipe.send(received)
    for sock in socks:
        sock.close()


def _session() -> Session:
    key = bytes(range(30))
    return Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))


def _c_group(transports: list[asyncio.DatagramTransport], ports: list[int]) -> FastGroup[int]:
    """The C path's state for each transport's socket, with its own SRTP session."""
    members = []
    for i, (transport, port) in enumerate(zip(transports, ports, strict=True)):
        sock = transport.get_extra_info("socket")
        session = _session()
        address = sockaddr(socket.AF_INET, ("127.0.0.1", port))
        assert address is not None
        out = FastOut(session._srtp[0], sock.fileno(), address, 0x1000 + i, keep=session)
        out.start((0, 0, 0, 0), (0, 0, 0.0, None, None))
        members.append((i, out))
    return FastGroup(members)


async def _send_runs(
    ports: list[int], size: int, rate: float, seconds: float, repeats: int
) -> tuple[list[float], list[float], list[float]]:
    """CPU µs per ``sendto`` (uvloop datagram transports), per protect, and per protect +
    ``sendto`` from C, per run."""
    loop = asyncio.get_running_loop()
    transports = []
    for _ in ports:
        transport, _protocol = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        transports.append(transport)
    targets = [(t.sendto, ("127.0.0.1", p)) for t, p in zip(transports, ports, strict=True)]
    rounds = max(1, int(rate * seconds))
    # One session per subscriber (as each has its keys), a new sequence number per round
    # (libsrtp refuses to protect one index twice).
    sessions = [_session() for _ in ports]
    body = bytes(size - len(RTP_HEADER))
    packets = [
        RTP_HEADER[:2] + (n & 0xFFFF).to_bytes(2, "big") + RTP_HEADER[4:] + body
        for n in range(rounds * repeats)
    ]
    group = _c_group(transports, ports)
    index = 0
    send_us: list[float] = []
    protect_us: list[float] = []
    c_us: list[float] = []
    for _ in range(repeats):
        spent = protected = in_c = 0.0
        for _ in range(rounds):
            packet = packets[index]
            index += 1
            start = time.thread_time()
            for sendto, addr in targets:
                sendto(packet, addr)
            mid = time.thread_time()
            for session in sessions:
                session.protect(packet)
            end = time.thread_time()
            sent = group.send(Outgoing(packet, len(body), index, 0, 0.0, None))
            in_c += time.thread_time() - end
            if sent != len(targets):
                raise RuntimeError(f"the C path sent {sent} of {len(targets)}")
            protected += end - mid
            spent += mid - start
            await asyncio.sleep(1 / rate)
        sends = rounds * len(targets)
        send_us.append(spent / sends * 1e6)
        protect_us.append(protected / sends * 1e6)
        c_us.append(in_c / sends * 1e6)
    for transport in transports:
        transport.close()
    return send_us, protect_us, c_us


@dataclass(frozen=True)
class Floor:
    """What one packet to one subscriber costs at least, in CPU µs (medians of runs):
    ``c_us`` from C (the floor proper), ``total_us`` with a Python call for each step."""

    send_us: float
    protect_us: float
    c_us: float
    send_runs: tuple[float, ...]
    protect_runs: tuple[float, ...]
    c_runs: tuple[float, ...]
    sent: int
    received: int

    @property
    def total_us(self) -> float:
        return self.send_us + self.protect_us


def measure_floor(
    subscribers: int,
    size: int,
    rate: float,
    seconds: float,
    repeats: int,
    cores: tuple[frozenset[int] | None, frozenset[int] | None] = (None, None),
) -> Floor:
    """Run the sends in this process (on ``cores[0]``) to a reader process (on
    ``cores[1]``); with neither given, pinned as ``loadtest.procs.plan_cores`` pins the
    fan-out's server and bots."""
    sender_cpus, reader_cpus = cores
    if sender_cpus is None and reader_cpus is None:
        sender_cpus, reader_cpus, _ = plan_cores()
    previous = os.sched_getaffinity(0)
    if sender_cpus:
        os.sched_setaffinity(0, sender_cpus)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    reader = ctx.Process(target=_reader, args=(subscribers, child, reader_cpus))
    reader.start()
    try:
        ports: list[int] = parent.recv()
        try:
            send_us, protect_us, c_us = uvloop.run(_send_runs(ports, size, rate, seconds, repeats))
        finally:
            parent.send("stop")
            received: int = parent.recv()
            reader.join()
    finally:
        os.sched_setaffinity(0, previous)
    return Floor(
        send_us=statistics.median(send_us),
        protect_us=statistics.median(protect_us),
        c_us=statistics.median(c_us),
        send_runs=tuple(send_us),
        protect_runs=tuple(protect_us),
        c_runs=tuple(c_us),
        sent=2 * subscribers * max(1, int(rate * seconds)) * repeats,
        received=received,
    )


def print_floor(floor: Floor, subscribers: int, size: int, rate: float) -> None:
    print(
        f"send floor: {subscribers} subscribers, {size}-byte packets, {rate:g}/s each, "
        f"a reader on another core; {floor.received} of {floor.sent} packets read"
    )
    for name, value, runs in (
        ("sendto (uvloop)", floor.send_us, floor.send_runs),
        ("protect (libsrtp)", floor.protect_us, floor.protect_runs),
        ("both, from C", floor.c_us, floor.c_runs),
    ):
        print(f"  {name:<18}{value:6.2f} µs  runs {', '.join(f'{v:.2f}' for v in runs)}")
    print(
        f"  {'floor':<18}{floor.c_us:6.2f} µs a packet and subscriber "
        f"(from Python, a call for each: {floor.total_us:.2f} µs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.send_floor")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--size", type=int, default=1200, help="bytes per packet")
    parser.add_argument("--rate", type=float, default=195.0, help="packets/s per subscriber")
    parser.add_argument("--seconds", type=float, default=4.0, help="per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--packet-us", type=float, help="the packet path's µs/pkt (fanout)")
    parser.add_argument("--frame-us", type=float, help="the frame path's µs/pkt (fanout)")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.size < len(RTP_HEADER) or args.size > 1400:
        print("send_floor: --subscribers ≥ 1, --size from 12 to 1400", file=sys.stderr)
        return 2
    if args.rate <= 0 or args.seconds <= 0 or args.repeats < 1:
        print("send_floor: --rate and --seconds > 0, --repeats ≥ 1", file=sys.stderr)
        return 2
    floor = measure_floor(args.subscribers, args.size, args.rate, args.seconds, args.repeats)
    print_floor(floor, args.subscribers, args.size, args.rate)
    if args.packet_us is not None:
        above = args.packet_us - floor.c_us
        print(f"  packet path {args.packet_us:.2f} µs: {above:.2f} µs above the floor")
    if args.frame_us is not None:
        need = args.frame_us / 2.5
        print(
            f"  frame path {args.frame_us:.2f} µs: 2.5× cheaper is {need:.2f} µs, "
            f"{need - floor.c_us:.2f} µs above the floor"
        )
    return 0 if floor.received == floor.sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
