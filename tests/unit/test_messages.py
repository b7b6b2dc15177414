"""The wire format: stored samples, round trips and every malformed shape."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.signaling import messages as m

SAMPLES: list[tuple[dict[str, Any], m.ClientMessage]] = [
    ({"type": "join", "token": "abc"}, m.Join(token="abc")),
    (
        {"type": "join", "token": "abc", "room": "vip", "ref": "1"},
        m.Join(token="abc", room="vip", ref="1"),
    ),
    ({"type": "offer", "pc": "sub", "sdp": "v=0\r\n"}, m.Offer(pc="sub", sdp="v=0\r\n")),
    ({"type": "candidate", "pc": "pub", "candidate": None}, m.Candidate(pc="pub", candidate=None)),
    (
        {
            "type": "candidate",
            "pc": "sub",
            "candidate": {
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            },
        },
        m.Candidate(
            pc="sub",
            candidate={
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            },
        ),
    ),
    ({"type": "stop", "pc": "pub"}, m.Stop(pc="pub")),
    ({"type": "leave"}, m.Leave()),
]


@pytest.mark.parametrize(("wire", "expected"), SAMPLES)
def test_samples_parse_and_round_trip(wire: dict[str, Any], expected: m.ClientMessage) -> None:
    assert m.parse(wire) == expected
    assert m.parse(m.to_wire(expected)) == expected
    for binary in (False, True):
        frame = m.encode_frame(m.to_wire(expected), binary)
        assert m.parse(m.decode_frame(frame, binary)) == expected


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        ([], "bad_message"),
        ("join", "bad_message"),
        ({}, "bad_message"),
        ({"type": 5}, "bad_message"),
        ({"type": "fly"}, "unknown_type"),
        ({"type": "join"}, "invalid_field"),
        ({"type": "join", "token": ""}, "invalid_field"),
        ({"type": "join", "token": "x" * 5000}, "invalid_field"),
        ({"type": "join", "token": "t", "room": "../etc"}, "invalid_field"),
        ({"type": "join", "token": "t", "ref": 7}, "invalid_field"),
        ({"type": "offer", "pc": "pub"}, "invalid_field"),
        ({"type": "offer", "pc": "side", "sdp": "v=0"}, "invalid_field"),
        ({"type": "offer", "pc": "sub", "sdp": "x" * (m.MAX_SDP + 1)}, "invalid_field"),
        ({"type": "candidate", "pc": "sub"}, "invalid_field"),
        ({"type": "candidate", "pc": "sub", "candidate": "c"}, "invalid_field"),
        ({"type": "candidate", "pc": "sub", "candidate": {"candidate": 1}}, "invalid_field"),
        (
            {
                "type": "candidate",
                "pc": "sub",
                "candidate": {"candidate": "c", "sdpMLineIndex": True},
            },
            "invalid_field",
        ),
        ({"type": "stop"}, "invalid_field"),
    ],
)
def test_malformed_messages_raise_protocol_errors(wire: Any, code: str) -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.parse(wire)
    assert caught.value.code == code
    assert caught.value.detail.endswith(".")


def test_ref_is_carried_into_errors() -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.parse({"type": "nope", "ref": "r-9"})
    assert caught.value.ref == "r-9"


@pytest.mark.parametrize(("data", "binary"), [("{", False), (b"\xc1", True), ("text", True)])
def test_undecodable_frames(data: Any, binary: bool) -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.decode_frame(data, binary)
    assert caught.value.code == "bad_message"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_any_json_value_parses_or_raises_protocol_error(value: Any) -> None:
    """No input makes the parser raise anything but ProtocolError."""
    with contextlib.suppress(m.ProtocolError):
        m.parse(json.loads(json.dumps(value)))


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(m.ProtocolError):
        m.parse(m.decode_frame(data, True))


def test_server_messages_have_stable_shapes() -> None:
    assert m.error("forbidden", "No.", "r") == {
        "type": "error",
        "code": "forbidden",
        "message": "No.",
        "ref": "r",
    }
    assert m.people_page([{"id": "p1"}], 7, 3) == {
        "type": "people_page",
        "people": [{"id": "p1"}],
        "next": 7,
        "count": 3,
    }
    assert msgpack.unpackb(m.encode_frame(m.stream(True, "p1"), True)) == {
        "type": "stream",
        "live": True,
        "publisher": "p1",
    }


def test_the_client_union_is_closed_over_every_parsed_type() -> None:
    """Finding 4 of issue 10: ``parse`` returned ``Any``, so a message type could be parsed
    and never dispatched. Every type tag ``parse`` knows is one class of ``ClientMessage``
    (the union the session matches with ``assert_never``), and back."""
    from typing import get_args

    classes = set(get_args(m.ClientMessage))
    tags = {cls.__dataclass_fields__["type"].default: cls for cls in classes}
    assert len(tags) == len(classes)
    assert set(tags) == set(m.CORE_TYPES) | set(m.FEATURE_PARSERS)


def test_each_features_routing_table_is_its_union() -> None:
    from typing import get_args

    from server.signaling import messages_interactions as mi
    from server.signaling import messages_people as mp
    from server.signaling import messages_rewards as mr
    from server.signaling import messages_stage as ms
    from server.signaling.interactions import Interactions

    assert set(ms.MESSAGE_TYPES) == set(get_args(ms.StageMessage))
    assert set(mr.MESSAGE_TYPES) == set(get_args(mr.RewardMessage))
    assert set(mp.MESSAGE_TYPES) == set(get_args(mp.PeopleMessage))
    assert set(Interactions.message_types) == set(get_args(mi.InteractionMessage))
