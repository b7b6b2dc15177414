"""The load tester writes its own side of two contracts with the server (it imports
nothing of ``server/``); these tests hold each side against the server's code."""

from __future__ import annotations

import pytest

from loadtest import verify
from loadtest.tokens import entry_token
from server.engagement import events
from server.engagement.events import EventKind, new_event
from server.ids import MemberId, RoomId
from server.rooms.errors import WrongRoom
from server.rooms.model import Role
from server.rooms.tokens import verify_token

SECRET = "s" * 32


def test_the_server_accepts_a_token_the_load_tester_mints() -> None:
    token = entry_token(SECRET, "m1", "r1", "host", 60)
    claims = verify_token(SECRET, token, RoomId("r1"))
    assert (claims.member_id, claims.room_id, claims.role) == ("m1", "r1", Role.HOST)
    assert claims.token_id
    with pytest.raises(WrongRoom):  # the room claim is the one the server checks
        verify_token(SECRET, token, RoomId("r2"))


def test_the_stream_constants_are_the_servers() -> None:
    assert verify.STREAM_KEY == events.STREAM_KEY
    assert verify.STREAM_FIELD == events.STREAM_FIELD
    assert verify.SCHEMA_VERSION == events.SCHEMA_VERSION


def test_an_event_the_server_encodes_is_read_by_the_load_tester() -> None:
    event = new_event(EventKind.CHAT, "r1", MemberId("m1"), action="send", text="hi")
    assert verify.room_event(events.encode(event)) == ("r1", "chat", event.data)
    joined = new_event(EventKind.JOIN, "r1", MemberId("m1"), role="host")
    _, kind, data = verify.room_event(events.encode(joined)) or ("", "", {})
    assert verify._name(kind, data) == "join:host"


@pytest.mark.parametrize("raw", [b"", b"\xc1", b"\x93\x01\x02\x03", b"\x81\xa1v\x02"])
def test_what_is_not_a_v1_event_is_none(raw: bytes) -> None:
    assert verify.room_event(raw) is None
