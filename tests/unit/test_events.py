"""The event schema: creation, msgpack round-trips and refusals (no I/O)."""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.engagement.events import (
    SCHEMA_VERSION,
    Event,
    EventDecodeError,
    EventKind,
    decode,
    encode,
    new_event,
)
from server.ids import MemberId

simple_values = st.none() | st.booleans() | st.text() | st.binary()
simple_values |= st.integers(min_value=-(2**63), max_value=2**64 - 1)
simple_values |= st.floats(allow_nan=False)
data_dicts = st.dictionaries(
    st.text(), simple_values | st.lists(simple_values, max_size=4), max_size=8
)


def wire(**overrides: Any) -> bytes:
    """A valid encoded join, with some top-level fields replaced or (None) removed."""
    fields: dict[str, Any] = {
        "v": 1,
        "id": "abc",
        "kind": "join",
        "room_id": "r1",
        "member_id": "m1",
        "ts_ms": 1,
        "data": {},
    }
    fields.update(overrides)
    packed: bytes = msgpack.packb({k: v for k, v in fields.items() if v is not None})
    return packed


def test_new_event_fills_in_id_version_and_time() -> None:
    before = time.time() * 1000
    event = new_event(EventKind.LEAVE, "room-1", MemberId("m-1"), watch_seconds=12.5)
    assert event.v == SCHEMA_VERSION == 1
    assert event.kind is EventKind.LEAVE
    assert (event.room_id, event.member_id) == ("room-1", "m-1")
    assert event.data == {"watch_seconds": 12.5}
    assert len(event.id) == 32 and int(event.id, 16) >= 0
    assert before - 1 <= event.ts_ms <= time.time() * 1000 + 1


def test_event_ids_are_unique() -> None:
    ids = {new_event("join", "", MemberId("m")).id for _ in range(1000)}
    assert len(ids) == 1000


def test_new_event_accepts_a_kind_name_and_an_empty_room() -> None:
    event = new_event("share", "", MemberId("m"))
    assert event.kind is EventKind.SHARE and event.room_id == ""


@pytest.mark.parametrize(
    ("kind", "room_id", "member_id"),
    [("nope", "r", "m"), ("join", "r", ""), ("join", "r", "a}b"), ("join", "bad room", "m")],
)
def test_new_event_refuses_what_decode_would_refuse(
    kind: str, room_id: str, member_id: str
) -> None:
    with pytest.raises(ValueError):
        new_event(kind, room_id, MemberId(member_id))


def test_all_kinds_exist() -> None:
    assert {k.value for k in EventKind} == {
        "join",
        "leave",
        "chat",
        "reaction",
        "question",
        "upvote",
        "poll_vote",
        "hand_raise",
        "stage_seconds",
        "product_click",
        "purchase",
        "share",
        "invite",
        "external",
        "hook_visit",
        "registration",
        "rsvp",
        "consultation_requested",
        "consultation_started",
        "consultation_ended",
        "consultation_purchase",
        "replay_watch",
        "stage_invite",
        "stage_accept",
        "stage_decline",
        "mute",
        "remove",
        "ban",
        # rewards
        "coupon_drop",
        "coupon_claim",
        "coupon_redeem",
        "draw",
        "draw_win",
        "quiz",
        "quiz_answer",
        "checkin",
        "points",
    }


@given(kind=st.sampled_from(EventKind), data=data_dicts)
def test_encode_decode_round_trip(kind: EventKind, data: dict[str, Any]) -> None:
    event = new_event(kind, "room", MemberId("member"), **data)
    assert decode(encode(event)) == event


def test_decoded_event_is_an_event_with_typed_fields() -> None:
    event = decode(wire())
    assert isinstance(event, Event)
    assert event.kind is EventKind.JOIN
    assert (event.id, event.member_id, event.room_id, event.ts_ms) == ("abc", "m1", "r1", 1)


def test_unknown_top_level_fields_are_ignored() -> None:
    assert decode(wire(extra="later")).id == "abc"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xc1", b"garbage that is not msgpack \xff\xfe", msgpack.packb([1, 2]), b"\x93\x01"],
)
def test_garbage_is_a_decode_error(raw: bytes) -> None:
    with pytest.raises(EventDecodeError, match=r"not msgpack|not a map"):
        decode(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (wire(v=2), "unsupported event schema version 2"),
        (wire(v=True), "'v' has type bool"),
        (wire(kind="dance"), "unknown event kind 'dance'"),
        (wire(id=None), "no 'id' field"),
        (wire(id=""), "id is empty"),
        (wire(member_id=None), "no 'member_id' field"),
        (wire(member_id="x y"), "member_id 'x y' is not a valid id"),
        (wire(room_id="{r}"), "room_id"),
        (wire(ts_ms="now"), "'ts_ms' has type str"),
        (wire(data=None), "no 'data' field"),
        (wire(data=[1]), "'data' has type list"),
        (wire(data={b"k": 2}), "data keys must be strings"),
        (wire(data={1: 2}), "not msgpack: .*map key"),
    ],
)
def test_bad_fields_are_decode_errors_saying_why(raw: bytes, message: str) -> None:
    with pytest.raises(EventDecodeError, match=message):
        decode(raw)


def test_data_may_use_the_names_of_event_fields() -> None:
    event = new_event("external", "r", MemberId("m"), kind="webinar", room_id="elsewhere")
    assert event.data == {"kind": "webinar", "room_id": "elsewhere"}
    assert decode(encode(event)) == event


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(EventDecodeError, ValueError)
