"""What a forwarded RTP packet keeps and what is rewritten for one subscriber (pure, no I/O).

The payload travels untouched; per subscriber only the header changes: SSRC, payload
type, sequence number and timestamp (a ``StreamMap`` keeps both continuous across feed
switches, deliberate drops and publisher changes), and the header extensions, rebuilt
with the ids that subscriber negotiated (``Layout``). VP8 picture ids and TL0PICIDX are
shifted after a switch so the subscriber's decoder sees one stream (``Vp8Info``).

Everything that depends only on the incoming packet (``InPacket``: keyframe start, VP8
descriptor offsets) or on a set of subscribers sharing a ``Layout`` (``tail``: extension
block and payload, then the whole packet as a ``rtp_template``) is computed once; per
subscriber, only sequence number, timestamp and SSRC are written into a copy.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
_HEADER_X = struct.Struct("!BBHIIHH")  # fixed header + one-byte extension header
_HEADER = struct.Struct("!BBHII")
_ONE_BYTE_PROFILE = 0xBEDE
_SEQ = struct.Struct("!H")
_STAMP = struct.Struct("!HII")  # sequence number, timestamp, SSRC: bytes 2 to 11


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number ``a`` comes after ``b`` (RFC 1982 arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


# --- VP8 payload descriptor (RFC 7741 §4.2) -----------------------------------------------


class Vp8Info(NamedTuple):
    """Where a VP8 packet keeps its picture id and TL0PICIDX, and whether it starts a key frame."""

    keyframe_start: bool
    picture_id: int | None
    picture_id_pos: int
    long_picture_id: bool
    tl0: int | None
    tl0_pos: int

    @classmethod
    def parse(cls, payload: bytes) -> Vp8Info:
        if not payload:
            return _NOT_VP8
        b0 = payload[0]
        pos = 1
        picture_id: int | None = None
        pid_pos = 0
        long_pid = False
        tl0: int | None = None
        tl0_pos = 0
        if b0 & 0x80:  # X: extension byte follows
            if len(payload) < 2:
                return _NOT_VP8
            ext = payload[1]
            pos = 2
            if ext & 0x80:  # I: picture id
                if len(payload) <= pos:
                    return _NOT_VP8
                pid_pos = pos
                if payload[pos] & 0x80:  # M: 15 bits
                    if len(payload) < pos + 2:
                        return _NOT_VP8
                    long_pid = True
                    picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                    pos += 2
                else:
                    picture_id = payload[pos] & 0x7F
                    pos += 1
            if ext & 0x40:  # L: TL0PICIDX
                if len(payload) <= pos:
                    return _NOT_VP8
                tl0_pos = pos
                tl0 = payload[pos]
                pos += 1
            if ext & 0x30:  # T or K: one more byte
                pos += 1
        # S=1 and partition 0 start the frame; bit 0 of the VP8 frame tag is 0 on a key frame.
        start = (b0 & 0x10) != 0 and (b0 & 0x07) == 0
        keyframe_start = start and len(payload) > pos and (payload[pos] & 0x01) == 0
        return cls(keyframe_start, picture_id, pid_pos, long_pid, tl0, tl0_pos)

    def marks(self) -> tuple[int, int, int, int, int]:
        """What the C path needs to shift this packet (``rtcseams.fastsend.Outgoing``):
        picture id or -1, its offset, 1 if 15 bits, TL0PICIDX or -1, its offset."""
        return (
            -1 if self.picture_id is None else self.picture_id,
            self.picture_id_pos,
            int(self.long_picture_id),
            -1 if self.tl0 is None else self.tl0,
            self.tl0_pos,
        )

    def shifted(self, payload: bytes, pid_delta: int, tl0_delta: int) -> bytes:
        """``payload`` with picture id and TL0PICIDX advanced by the deltas (mod their width)."""
        if (pid_delta == 0 or self.picture_id is None) and (tl0_delta == 0 or self.tl0 is None):
            return payload
        out = bytearray(payload)
        if pid_delta and self.picture_id is not None:
            if self.long_picture_id:
                pid = (self.picture_id + pid_delta) & 0x7FFF
                out[self.picture_id_pos] = 0x80 | (pid >> 8)
                out[self.picture_id_pos + 1] = pid & 0xFF
            else:
                out[self.picture_id_pos] = (self.picture_id + pid_delta) & 0x7F
        if tl0_delta and self.tl0 is not None:
            out[self.tl0_pos] = (self.tl0 + tl0_delta) & 0xFF
        return bytes(out)


_NOT_VP8 = Vp8Info(False, None, 0, False, None, 0)


# --- one incoming packet, parsed once ---------------------------------------------------


class InPacket:
    """The parts of a publisher's packet every subscriber's copy is made from."""

    __slots__ = ("abs_send_time", "audio_level", "marker", "payload", "seq", "ts", "vp8")

    def __init__(
        self,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        vp8: Vp8Info | None = None,
        audio_level: tuple[bool, int] | None = None,
        abs_send_time: int | None = None,
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.marker = marker
        self.payload = payload
        self.vp8 = vp8
        self.audio_level = audio_level
        self.abs_send_time = abs_send_time

    @property
    def keyframe_start(self) -> bool:
        return self.vp8 is None or self.vp8.keyframe_start


# --- extensions ---------------------------------------------------------------------------


def _element(ext_id: int | None, data: bytes) -> bytes:
    # One-byte header form (RFC 8285 §4.2): ids 1..14, 1..16 bytes of data.
    if ext_id is None or not 1 <= ext_id <= 14:
        return b""
    return bytes([(ext_id << 4) | (len(data) - 1)]) + data


def _padded(block: bytes) -> bytes:
    # Zero bytes are padding between and after one-byte elements.
    return block + b"\x00" * (-len(block) % 4)


@dataclass(frozen=True, slots=True)
class Layout:
    """What one subscriber negotiated for a sender: payload types and extension ids."""

    payload_type: int
    rtx_payload_type: int | None = None
    mid_id: int | None = None
    audio_level_id: int | None = None
    abs_send_time_id: int | None = None

    def mid_block(self, mid: str | None) -> bytes:
        """The subscriber's own ``mid`` element, padded to 32 bits (made once per sender)."""
        return _padded(_element(self.mid_id, mid.encode())) if mid else b""

    def tail(self, packet: InPacket, payload: bytes | None = None) -> bytes:
        """Extension elements shared by every subscriber with this layout, then the payload
        (``packet``'s own unless given)."""
        if payload is None:
            payload = packet.payload
        block = b""
        if packet.audio_level is not None:
            vad, level = packet.audio_level
            block += _element(self.audio_level_id, bytes([(0x80 if vad else 0) | (level & 0x7F)]))
        if packet.abs_send_time is not None:
            block += _element(self.abs_send_time_id, packet.abs_send_time.to_bytes(3, "big"))
        return _padded(block) + payload if block else payload


def rtp_template(
    payload_type: int, marker: int, mid_block: bytes, tail: bytes, ext_len: int
) -> bytes:
    """One RTP packet with sequence number, timestamp and SSRC left zero (each
    subscriber's copy gets its own, written in place when it is sent): header, extension
    block of ``ext_len`` bytes (``mid_block`` first, the rest at the start of ``tail``),
    payload at the end of ``tail``."""
    if ext_len:
        second = (marker << 7) | payload_type
        header = _HEADER_X.pack(0x90, second, 0, 0, 0, _ONE_BYTE_PROFILE, ext_len >> 2)
        return header + mid_block + tail
    return _HEADER.pack(0x80, (marker << 7) | payload_type, 0, 0, 0) + tail


def stamped(template: bytes, seq: int, ts: int, ssrc: int) -> bytes:
    """``template`` with its sequence number, timestamp and SSRC written in."""
    out = bytearray(template)
    _STAMP.pack_into(out, 2, seq, ts, ssrc)
    return bytes(out)


def rtp_bytes(
    payload_type: int,
    marker: int,
    seq: int,
    ts: int,
    ssrc: int,
    mid_block: bytes,
    tail: bytes,
    ext_len: int,
) -> bytes:
    """One RTP packet: ``rtp_template`` with ``seq``, ``ts`` and ``ssrc`` written in."""
    return stamped(rtp_template(payload_type, marker, mid_block, tail, ext_len), seq, ts, ssrc)


def rtx_payload(original_seq: int, payload: bytes) -> bytes:
    """RFC 4588: an RTX payload is the original sequence number, then the original payload."""
    return _SEQ.pack(original_seq) + payload


# --- sequence numbers, timestamps and picture ids, per subscriber -----------------------


class Epoch(NamedTuple):
    """One stretch of continuous forwarding from one source, and how it was mapped."""

    first_out: int
    seq_delta: int
    ts_delta: int
    pid_delta: int
    tl0_delta: int
    source: object


class StreamMap:
    """Maps a source's sequence numbers, timestamps and VP8 ids onto one outgoing stream.

    ``anchor`` starts an epoch: the next outgoing sequence number follows the last one
    sent, the timestamp advances by the wall time since the last packet (so a switch
    keeps real time), and VP8 picture ids follow on. Inside an epoch the mapping is a
    fixed offset, so the publisher's own gaps (losses) and reordering pass through and
    the subscriber can NACK them. The last few epochs are kept to answer NACKs.
    """

    __slots__ = (
        "_clock",
        "_epochs",
        "_last_pid",
        "_last_seq",
        "_last_time",
        "_last_tl0",
        "_last_ts",
        "epoch",
    )

    def __init__(self, clock_rate: int, first_seq: int, first_ts: int) -> None:
        self._clock = clock_rate
        self._last_seq = (first_seq - 1) % SEQ_MOD
        self._last_ts = first_ts % TS_MOD
        self._last_time: float | None = None
        self._last_pid: int | None = None
        self._last_tl0: int | None = None
        self._epochs: deque[Epoch] = deque(maxlen=4)
        self.epoch: Epoch | None = None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def anchor(self, packet: InPacket, now: float, source: object) -> Epoch:
        if self._last_time is None:
            ts_out = self._last_ts
        else:
            ts_out = self._last_ts + max(1, round((now - self._last_time) * self._clock))
        pid_delta = tl0_delta = 0
        vp8 = packet.vp8
        if vp8 is not None:
            if vp8.picture_id is not None and self._last_pid is not None:
                pid_delta = (self._last_pid + 1 - vp8.picture_id) & 0x7FFF
            if vp8.tl0 is not None and self._last_tl0 is not None:
                tl0_delta = (self._last_tl0 + 1 - vp8.tl0) & 0xFF
        epoch = Epoch(
            first_out=(self._last_seq + 1) % SEQ_MOD,
            seq_delta=(self._last_seq + 1 - packet.seq) % SEQ_MOD,
            ts_delta=(ts_out - packet.ts) % TS_MOD,
            pid_delta=pid_delta,
            tl0_delta=tl0_delta,
            source=source,
        )
        self._epochs.append(epoch)
        self.epoch = epoch
        return epoch

    def map(self, packet: InPacket, now: float) -> tuple[int, int]:
        """The outgoing (sequence number, timestamp) of ``packet`` in the current epoch."""
        epoch = self.epoch
        assert epoch is not None, "map() before anchor()"
        seq = (packet.seq + epoch.seq_delta) & 0xFFFF
        ts = (packet.ts + epoch.ts_delta) & 0xFFFFFFFF
        ahead = (seq - self._last_seq) & 0xFFFF  # ``seq_newer``, inlined: once a subscriber
        if ahead and ahead < 0x8000:
            self._last_seq = seq
            self._last_ts = ts
            self._last_time = now
            vp8 = packet.vp8
            if vp8 is not None:
                if vp8.picture_id is not None:
                    self._last_pid = (vp8.picture_id + epoch.pid_delta) & 0x7FFF
                if vp8.tl0 is not None:
                    self._last_tl0 = (vp8.tl0 + epoch.tl0_delta) & 0xFF
        return seq, ts

    def running(self) -> tuple[int, int, float, int | None, int | None]:
        """What ``map`` keeps between packets: the last sequence number, timestamp and
        wall time sent, and the last VP8 picture id and TL0PICIDX (for the C path)."""
        last_time = self._last_time if self._last_time is not None else 0.0
        return self._last_seq, self._last_ts, last_time, self._last_pid, self._last_tl0

    def resume(self, running: tuple[int, int, float, int | None, int | None]) -> None:
        """Go on from ``running`` (as ``running`` returns it), mapped elsewhere meanwhile."""
        self._last_seq, self._last_ts, self._last_time, self._last_pid, self._last_tl0 = running

    def find(self, out_seq: int) -> tuple[Epoch, int] | None:
        """The epoch that sent ``out_seq`` and the source's sequence number for it."""
        for epoch in reversed(self._epochs):
            if out_seq == epoch.first_out or seq_newer(out_seq, epoch.first_out):
                return epoch, (out_seq - epoch.seq_delta) & 0xFFFF
        return None
