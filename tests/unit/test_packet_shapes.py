"""Subscribers that negotiated the same sender parameters share one outgoing packet per
forwarded packet (their ``shape``); any difference in payload type, extension ids or mid
gives another shape, whose packet carries that subscriber's own numbers (issue 12: the
per-packet work is done once per shape, not once per subscriber)."""

from __future__ import annotations

from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)

from server.media.rtp_rewrite import InPacket, Vp8Info, stamped
from server.media.sink import ABS_SEND_TIME_URI, MID_URI, PacketSink
from tests.unit.test_rtp_rewrite import KEY, parse_for


def started(payload_type: int, mid: str, ids: tuple[int, int]) -> PacketSink:
    """A video sink whose sender started with these negotiated parameters."""
    sink = PacketSink(None, "video", None, 96_000)
    parameters = RTCRtpSendParameters(
        codecs=[
            RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=payload_type)
        ],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=ids[0], uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=ids[1], uri=ABS_SEND_TIME_URI),
        ],
        muxId=mid,
        rtcp=RTCRtcpParameters(cname="c"),
    )
    sink._started(parameters)  # what its SenderTap calls when aiortc starts the sender
    return sink


async def test_equal_parameters_share_one_shape_and_others_get_their_own_packet() -> None:
    packet = InPacket(10, 3000, 1, KEY, Vp8Info.parse(KEY), None, 0x123456)
    a, b = started(96, "0", (4, 3)), started(96, "0", (4, 3))
    assert a.shape is not None and a.shape is b.shape  # one object: compared by identity
    for pt, mid, ids in ((120, "0", (4, 3)), (96, "1", (4, 3)), (96, "0", (5, 2))):
        other = started(pt, mid, ids)
        assert other.shape != a.shape and other.layout is not None
        out = parse_for(other.layout, stamped(other.template(packet), 7, 8, 9))
        assert (out.payload_type, out.sequence_number, out.timestamp, out.ssrc) == (pt, 7, 8, 9)
        assert out.extensions.mid == mid
        assert out.extensions.abs_send_time == 0x123456
        assert out.payload == KEY
