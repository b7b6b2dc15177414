"""The external-event checks of ``POST /api/events``, without a server."""

from __future__ import annotations

import pytest

from server.engagement.events import EventKind, new_event
from server.http.engagement import checked_encodable, is_plain_text
from server.ids import MemberId


def test_an_event_msgpack_cannot_carry_is_refused_as_a_value_error() -> None:
    """The last check before the 202: whatever slipped past the field checks and cannot
    be encoded is a refusal, never an event dropped after the answer."""
    event = new_event(EventKind.SHARE, "", MemberId("zed"), channel="wa")
    assert checked_encodable(event) is event
    with pytest.raises(ValueError, match="cannot be stored"):
        checked_encodable(new_event(EventKind.SHARE, "", MemberId("zed"), n=2**70))
    with pytest.raises(ValueError, match="cannot be stored"):
        checked_encodable(new_event(EventKind.SHARE, "", MemberId("zed"), channel="\ud800"))


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("whatsapp", True),
        ("微信 🎉", True),
        ("x\ud800", False),
        ("tab\there", False),
        ("nul\x00", False),
        ("del\x7f", False),
        ("a\u202eb", False),
        ("a\u2066b", False),
    ],
)
def test_plain_text(text: str, plain: bool) -> None:
    assert is_plain_text(text) is plain
