"""The packet path's rewriting, on stored packets: sequence numbers, timestamps, extension
ids and VP8 descriptors as one subscriber must see them (``server/media/rtp_rewrite.py``)."""

from __future__ import annotations

from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from server.media.rtp_rewrite import InPacket, Layout, StreamMap, Vp8Info, rtp_bytes, rtx_payload
from server.media.sink import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, layout_of

# Stored VP8 payloads (descriptor + start of the frame) as aiortc's encoder made them: a
# key frame start (15-bit picture id 0x6c1c), a delta frame start (0x6c1d), and a
# continuation (S=0) of the key frame.
KEY = bytes.fromhex("9080ec1cd043009d012a8002")
DELTA = bytes.fromhex("9080ec1d310400e4e0a85796")
CONTINUATION = bytes.fromhex("8080ec1c77d3a0f9")
# A descriptor with 7-bit picture id 0x7f, TL0PICIDX 0xff and a TID byte, as some senders
# send (X, S; I L T set), then a key frame tag.
SHORT_WITH_TL0 = bytes.fromhex("90e0" + "7f" + "ff" + "20" + "d043009d")
# A whole RTP packet as a browser publishes it: pt 96, seq 0xfffe, ts 0xfffffff0,
# one-byte extensions abs-send-time (id 3) and mid (id 4, "0"), the key frame above.
PUBLISHED = bytes.fromhex("9060fffefffffff0deadbeef" + "bede0002" + "32123456" + "40300000") + KEY


def published_packet() -> RtpPacket:
    ids = HeaderExtensionsMap()
    ids.configure(
        RTCRtpSendParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=3, uri=ABS_SEND_TIME_URI),
                RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI),
            ]
        )
    )
    return RtpPacket.parse(PUBLISHED, ids)


def in_packet(seq: int, ts: int, payload: bytes = DELTA, marker: int = 1) -> InPacket:
    return InPacket(seq, ts, marker, payload, Vp8Info.parse(payload))


def parse_for(layout: Layout, data: bytes) -> RtpPacket:
    ids = HeaderExtensionsMap()
    exts = [
        RTCRtpHeaderExtensionParameters(id=i, uri=uri)
        for i, uri in (
            (layout.mid_id, MID_URI),
            (layout.audio_level_id, AUDIO_LEVEL_URI),
            (layout.abs_send_time_id, ABS_SEND_TIME_URI),
        )
        if i is not None
    ]
    ids.configure(RTCRtpSendParameters(headerExtensions=exts))
    return RtpPacket.parse(data, ids)


# --- VP8 descriptor -----------------------------------------------------------------------


def test_vp8_key_frame_start_is_found_only_at_the_start_of_a_key_frame() -> None:
    assert Vp8Info.parse(KEY).keyframe_start
    assert not Vp8Info.parse(DELTA).keyframe_start
    assert not Vp8Info.parse(CONTINUATION).keyframe_start
    assert Vp8Info.parse(SHORT_WITH_TL0).keyframe_start
    assert not Vp8Info.parse(b"").keyframe_start


def test_vp8_picture_ids_and_tl0_are_read_where_they_are() -> None:
    key = Vp8Info.parse(KEY)
    assert (key.picture_id, key.long_picture_id, key.tl0) == (0x6C1C, True, None)
    short = Vp8Info.parse(SHORT_WITH_TL0)
    assert (short.picture_id, short.long_picture_id, short.tl0) == (0x7F, False, 0xFF)


def test_vp8_shift_wraps_each_field_at_its_width_and_leaves_the_rest() -> None:
    shifted = Vp8Info.parse(KEY).shifted(KEY, 0x7FFF - 0x6C1C + 2, 0)
    assert Vp8Info.parse(shifted).picture_id == 1  # wrapped past 0x7fff
    assert shifted[0:2] == KEY[0:2] and shifted[4:] == KEY[4:]
    short = Vp8Info.parse(SHORT_WITH_TL0).shifted(SHORT_WITH_TL0, 3, 2)
    again = Vp8Info.parse(short)
    assert (again.picture_id, again.tl0) == (2, 1)
    assert short[4:] == SHORT_WITH_TL0[4:]
    assert Vp8Info.parse(DELTA).shifted(DELTA, 0, 0) is DELTA  # nothing to do: no copy


# --- sequence numbers and timestamps -------------------------------------------------------


def test_a_stream_stays_continuous_across_a_switch_to_another_publisher() -> None:
    stream = StreamMap(90000, first_seq=100, first_ts=5000)
    stream.anchor(in_packet(40000, 1_000_000, KEY), now=10.0, source="a")
    assert stream.map(in_packet(40000, 1_000_000, KEY), 10.0) == (100, 5000)
    assert stream.map(in_packet(40001, 1_003_000), 10.033) == (101, 8000)
    # Another publisher: unrelated numbers, 0.5 s later.
    other = in_packet(7, 42, KEY)
    stream.anchor(other, now=10.533, source="b")
    seq, ts = stream.map(other, 10.533)
    assert seq == 102
    assert ts == 8000 + 45000  # the wall time since the last packet, at 90 kHz


def test_the_publishers_own_loss_and_reordering_pass_through_for_nacks() -> None:
    stream = StreamMap(90000, first_seq=10, first_ts=0)
    stream.anchor(in_packet(500, 0, KEY), now=0.0, source="a")
    stream.map(in_packet(500, 0, KEY), 0.0)
    assert stream.map(in_packet(503, 3000), 0.1)[0] == 13  # 501, 502 lost upstream
    assert stream.map(in_packet(501, 3000), 0.11)[0] == 11  # late arrival keeps its place
    assert stream.last_seq == 13


def test_a_deliberate_gap_continues_without_a_hole_and_keeps_real_time() -> None:
    """Packets dropped on purpose (mute, key frame wait) must not look lost to the
    subscriber: the next epoch follows the last sequence number sent."""
    stream = StreamMap(48000, first_seq=65534, first_ts=(1 << 32) - 960)
    stream.anchor(in_packet(1, 960, b"\x01"), now=1.0, source="a")
    assert stream.map(in_packet(1, 960, b"\x01"), 1.0) == (65534, (1 << 32) - 960)
    assert stream.map(in_packet(2, 1920, b"\x01"), 1.02) == (65535, 0)  # ts wraps
    # 100 packets muted, then the same publisher again.
    stream.anchor(in_packet(103, 99840, b"\x01"), now=3.02, source="a")
    seq, ts = stream.map(in_packet(103, 99840, b"\x01"), 3.02)
    assert seq == 0  # 65535 + 1, wrapped
    assert ts == 96000  # 2 s at 48 kHz after the last timestamp (0)


def test_vp8_picture_ids_follow_on_across_a_switch() -> None:
    stream = StreamMap(90000, first_seq=0, first_ts=0)
    first = in_packet(1, 0, KEY)
    stream.anchor(first, 0.0, "a")
    stream.map(first, 0.0)
    stream.map(in_packet(2, 3000, DELTA), 0.033)  # picture id 0x6c1d
    incoming = in_packet(9, 0, SHORT_WITH_TL0)  # picture id 0x7f from the next publisher
    epoch = stream.anchor(incoming, 0.066, "b")
    out = Vp8Info.parse(SHORT_WITH_TL0).shifted(SHORT_WITH_TL0, epoch.pid_delta, 0)
    assert Vp8Info.parse(out).picture_id == (0x6C1D + 1) & 0x7F


def test_nacks_find_the_epoch_and_source_packet_that_were_sent() -> None:
    stream = StreamMap(90000, first_seq=1000, first_ts=0)
    stream.anchor(in_packet(50, 0, KEY), 0.0, "a")
    for seq in range(50, 55):
        stream.map(in_packet(seq, 0), 0.0)  # out 1000..1004
    stream.anchor(in_packet(9000, 0, KEY), 1.0, "b")
    stream.map(in_packet(9000, 0, KEY), 1.0)  # out 1005
    old = stream.find(1003)
    new = stream.find(1005)
    assert old is not None and (old[0].source, old[1]) == ("a", 53)
    assert new is not None and (new[0].source, new[1]) == ("b", 9000)
    assert stream.find(999) is None


# --- header and extensions -------------------------------------------------------------------


def test_a_forwarded_packet_carries_the_subscribers_ids_and_only_what_changes() -> None:
    source = published_packet()
    packet = InPacket(
        source.sequence_number,
        source.timestamp,
        source.marker,
        source.payload,
        Vp8Info.parse(source.payload),
        None,
        source.extensions.abs_send_time,
    )
    for layout in (
        Layout(payload_type=97, mid_id=1, abs_send_time_id=3),
        Layout(payload_type=120, mid_id=9, abs_send_time_id=2),
    ):
        mid = layout.mid_block("1")
        tail = layout.tail(packet)
        ext_len = len(mid) + len(tail) - len(packet.payload)
        data = rtp_bytes(layout.payload_type, 1, 4242, 777, 0x01020304, mid, tail, ext_len)
        out = parse_for(layout, data)
        assert (out.payload_type, out.sequence_number, out.timestamp) == (
            layout.payload_type,
            4242,
            777,
        )
        assert out.ssrc == 0x01020304 and out.marker == 1
        assert out.payload == KEY
        assert out.extensions.mid == "1"
        assert out.extensions.abs_send_time == 0x123456


def test_audio_level_is_forwarded_under_the_subscribers_id() -> None:
    layout = Layout(payload_type=111, mid_id=None, audio_level_id=5)
    packet = InPacket(1, 960, 1, b"\xfc\xff\xfe", None, (True, 42))
    tail = layout.tail(packet)
    data = rtp_bytes(111, 1, 1, 960, 7, b"", tail, len(tail) - 3)
    assert parse_for(layout, data).extensions.audio_level == (True, 42)


def test_no_negotiated_extension_means_no_extension_block() -> None:
    layout = Layout(payload_type=96)
    packet = InPacket(1, 0, 0, b"\x01\x02", None, (False, 3), 99)
    tail = layout.tail(packet)
    assert tail == b"\x01\x02"
    data = rtp_bytes(96, 0, 1, 0, 7, b"", tail, 0)
    assert data[0] == 0x80 and len(data) == 14


def test_an_rtx_payload_starts_with_the_original_sequence_number() -> None:
    assert rtx_payload(0xABCD, b"xyz") == b"\xab\xcdxyz"


def test_layout_comes_from_the_parameters_the_sender_started_with() -> None:
    parameters = RTCRtpSendParameters(
        codecs=[
            RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
            RTCRtpCodecParameters(
                mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
            ),
        ],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
        ],
    )
    assert layout_of(parameters) == Layout(96, 97, mid_id=4, abs_send_time_id=2)
