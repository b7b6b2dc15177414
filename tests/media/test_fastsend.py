"""The packet path's C part (``rtcseams.fastsend``) against Python's own rewrite, with real
libsrtp sessions and real UDP sockets on loopback: what arrives, unprotected, is byte for
byte what ``StreamMap``, ``Vp8Info.shifted`` and ``stamped`` make, and the C path hands a
subscriber back (sending nothing) when its transport may have changed, and keeps the
protected bytes when the socket does not take them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pylibsrtp import Policy, Session

from rtcseams import fastsend
from rtcseams.checks import missing_for_packet_path
from rtcseams.fastsend import FastGroup, FastOut, Outgoing, sockaddr
from server.media.rtp_rewrite import InPacket, StreamMap, Vp8Info, rtp_template, stamped

pytestmark = pytest.mark.media

KEY = bytes(range(30))  # 16 bytes of key, 14 of salt
# Stored VP8 payload starts (tests/unit/test_rtp_rewrite.py's, padded): a key frame with
# 15-bit picture id 0x6c1c and TL0PICIDX 0x05, and one with 7-bit picture id 0x7f and
# TL0PICIDX 0xff (fields that wrap when shifted).
VP8_KEY = bytes.fromhex("90e0ec1c0520d043009d012a8002") + bytes(200)
VP8_TL0 = bytes.fromhex("90e07fff20d043009d") + bytes(90)
MID_BLOCK = bytes.fromhex("10300000")  # mid "0" under id 1, padded


class Receiver:
    """A subscriber's end: a UDP socket and the SRTP session that unprotects for it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.srtp = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))

    def packet(self) -> bytes:
        return self.srtp.unprotect(self.sock.recv(2048))


class Sender:
    """The server's side of one subscriber: its own SRTP session and socket."""

    def __init__(self, to: Receiver, ssrc: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.srtp = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self.ssrc = ssrc
        self.address = sockaddr(socket.AF_INET, to.sock.getsockname())
        assert self.address is not None

    def kept(self, senders: list[Sender]) -> Sender:
        senders.append(self)
        return self

    def fast(self, address: bytes | None = None) -> FastOut:
        return FastOut(
            self.srtp._srtp[0],
            self.sock.fileno(),
            address or self.address,
            self.ssrc,
            keep=self,
        )


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made = [Receiver() for _ in range(2)]
    yield made
    for r in made:
        r.sock.close()


@pytest.fixture
def senders() -> Iterator[list[Sender]]:
    """Where each test's senders are kept, to be closed after it."""
    made: list[Sender] = []
    yield made
    for s in made:
        s.sock.close()


def packet(seq: int, ts: int, payload: bytes) -> InPacket:
    return InPacket(seq, ts, 1, payload, Vp8Info.parse(payload))


def outgoing(p: InPacket, now: float) -> tuple[Outgoing, bytes]:
    template = rtp_template(96, p.marker, MID_BLOCK, p.payload, len(MID_BLOCK))
    assert p.vp8 is not None
    marks = p.vp8.marks()
    return Outgoing(template, len(p.payload), p.seq, p.ts, now, marks), template


def python_copy(stream: StreamMap, p: InPacket, now: float, ssrc: int) -> bytes:
    """What ``PacketSink.forward`` sends for ``p`` (VP8 shift included)."""
    seq, ts = stream.map(p, now)
    epoch = stream.epoch
    assert epoch is not None and p.vp8 is not None
    payload = p.vp8.shifted(p.payload, epoch.pid_delta, epoch.tl0_delta)
    template = rtp_template(96, p.marker, MID_BLOCK, payload, len(MID_BLOCK))
    return stamped(template, seq, ts, ssrc)


def switched_stream(first_seq: int) -> StreamMap:
    """A subscriber's map that has sent one publisher's key frame and then switched to
    another publisher's stream (VP8 picture id and TL0PICIDX offsets in the new epoch)."""
    stream = StreamMap(90000, first_seq=first_seq, first_ts=first_seq * 7)
    before = packet(500, 1000, VP8_KEY)
    stream.anchor(before, 0.0, "a")
    stream.map(before, 0.0)
    first = packet(65530, 4_294_967_000, VP8_TL0)
    stream.anchor(first, 0.1, "b")
    stream.map(first, 0.1)
    return stream


def test_the_c_path_sends_what_python_would_byte_for_byte(
    receivers: list[Receiver], senders: list[Sender]
) -> None:
    for r, ssrc in zip(receivers, (0x1111, 0x2222), strict=True):
        Sender(r, ssrc).kept(senders)
    streams = [switched_stream(100), switched_stream(40000)]  # reference: Python's
    mirrors = [switched_stream(100), switched_stream(40000)]  # handed to the C path
    outs = []
    for sender, mirror in zip(senders, mirrors, strict=True):
        epoch = mirror.epoch
        assert epoch is not None and epoch.pid_delta and epoch.tl0_delta
        out = sender.fast()
        out.start(
            (epoch.seq_delta, epoch.ts_delta, epoch.pid_delta, epoch.tl0_delta), mirror.running()
        )
        outs.append(out)
    group = FastGroup(list(zip(senders, outs, strict=True)))
    # Across the publisher's sequence-number and timestamp wrap, one packet late.
    incoming = [
        packet((65531 + i) % 2**16, (4_294_967_000 + 3000 * i) % 2**32, VP8_TL0) for i in range(8)
    ]
    incoming[2], incoming[3] = incoming[3], incoming[2]
    for i, p in enumerate(incoming):
        now = 0.2 + i / 30
        out_packet, _ = outgoing(p, now)
        assert group.send(out_packet) == 2 and group.failed == 0
        for receiver, sender, stream in zip(receivers, senders, streams, strict=True):
            assert receiver.packet() == python_copy(stream, p, now, sender.ssrc)
    for out, stream in zip(outs, streams, strict=True):
        assert out.running() == stream.running()
        assert out.forwarded == len(incoming)
        assert out.octets == sum(len(p.payload) for p in incoming)


def test_a_changed_generation_sends_nothing_until_checked_again(
    receivers: list[Receiver], senders: list[Sender]
) -> None:
    sender = Sender(receivers[0], 0x3333).kept(senders)
    stream = switched_stream(7)
    out = sender.fast()
    epoch = stream.epoch
    assert epoch is not None
    out.start((epoch.seq_delta, epoch.ts_delta, epoch.pid_delta, epoch.tl0_delta), stream.running())
    group = FastGroup([(sender, out)])
    p = packet(65531, 2704, VP8_TL0)
    out_packet, _ = outgoing(p, 0.3)
    before = fastsend.generation()
    fastsend._lib.salon_bump()  # what a DTLS state change or an ICE close does first
    assert fastsend.generation() == before + 1
    assert group.send(out_packet) == 0 and group.failed == 1
    assert [(owner, o.status) for owner, o in group.failures()] == [(sender, fastsend.STALE)]
    assert out.forwarded == 0 and out.running() == stream.running()  # nothing mapped
    assert out.recheck(out_packet) == 1
    assert receivers[0].packet() == python_copy(stream, p, 0.3, sender.ssrc)
    assert group.send(outgoing(packet(65532, 5704, VP8_TL0), 0.33)[0]) == 1


def test_a_packet_the_socket_refuses_is_kept_protected_for_the_transport(
    receivers: list[Receiver], senders: list[Sender]
) -> None:
    sender = Sender(receivers[0], 0x4444).kept(senders)
    # An IPv6 address on an IPv4 socket: sendto fails (as EAGAIN would) after protection.
    v6 = sockaddr(socket.AF_INET6, ("::1", receivers[0].sock.getsockname()[1]))
    assert v6 is not None
    stream = switched_stream(9)
    out = sender.fast(v6)
    epoch = stream.epoch
    assert epoch is not None
    out.start((epoch.seq_delta, epoch.ts_delta, epoch.pid_delta, epoch.tl0_delta), stream.running())
    p = packet(65531, 2704, VP8_TL0)
    out_packet, _ = outgoing(p, 0.3)
    group = FastGroup([(sender, out)])
    assert group.send(out_packet) == 0 and out.status == fastsend.UNSENT and out.error > 0
    sender.sock.sendto(out.unsent(), receivers[0].sock.getsockname())
    assert receivers[0].packet() == python_copy(stream, p, 0.3, sender.ssrc)


def test_what_libsrtp_refuses_or_does_not_fit_is_handed_back(
    receivers: list[Receiver], senders: list[Sender]
) -> None:
    sender = Sender(receivers[0], 0x5555).kept(senders)
    out = sender.fast()
    out.start((0, 0, 0, 0), (0, 0, 0.0, None, None))
    group = FastGroup([(sender, out)])
    # Fifteen CSRCs announced in a 40-byte packet: libsrtp refuses the header.
    bad = bytes([0x8F, 96]) + bytes(38)
    assert group.send(Outgoing(bad, 10, 1, 1, 0.0, None)) == 0
    assert out.status == fastsend.PROTECT_FAILED and out.error != 0
    too_long = rtp_template(96, 1, b"", bytes(1400), 0)
    assert group.send(Outgoing(too_long, 1400, 2, 2, 0.0, None)) == -1


def test_every_call_that_can_change_a_transport_bumps_the_generation() -> None:
    assert fastsend.BUILT
    for cls, name in fastsend.BUMPED:
        assert getattr(getattr(cls, name), "__salon_bumps__", False), f"{cls.__name__}.{name}"
    assert missing_for_packet_path() == []
