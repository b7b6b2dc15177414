"""Issue 9, defect 1: every string of every client message meets ``server.text`` at parse
time, and whatever still holds a lone surrogate on the way out cannot break an encoder.

The bug pinned: ``{"type":"chat_send","text":"x\\ud800"}`` parsed, was broadcast, and every
JSON recipient's writer died on ``UnicodeEncodeError``; a question, a poll, a product
title or price, a ``ref`` or an unknown ``type`` echoed back did the same.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgpack
import pytest

from server.signaling import messages as m
from server.signaling.frames import FrameCache

LINK = "https://shop.example.com/p/bag-1"
PIN = {"type": "product_pin", "id": "bag-1", "title": "Tote", "price": "€49", "link": LINK}
POLL = {"type": "poll_create", "question": "Which?", "options": ["Red", "Sand"]}
BAD = {
    "bad_unicode": "x\ud800",
    "control_character": "a\x00b",
    "bidi_control": "evil\u202egnp.exe",
}

# (message, field name in the error, where the bad string goes)
CARRIERS: list[tuple[dict[str, Any], str, Any]] = [
    ({"type": "chat_send"}, "text", lambda msg, bad: msg.update(text=bad)),
    ({"type": "question_ask"}, "text", lambda msg, bad: msg.update(text=bad)),
    (dict(POLL), "question", lambda msg, bad: msg.update(question=bad)),
    (dict(POLL), "options[1]", lambda msg, bad: msg.update(options=["Red", bad])),
    (dict(PIN), "title", lambda msg, bad: msg.update(title=bad)),
    (dict(PIN), "price", lambda msg, bad: msg.update(price=bad)),
    (dict(PIN), "link", lambda msg, bad: msg.update(link=LINK + bad)),
    (dict(PIN), "image", lambda msg, bad: msg.update(image=LINK + bad)),
    ({"type": "join", "token": "abc"}, "token", lambda msg, bad: msg.update(token=bad)),
    (
        {"type": "offer", "pc": "sub"},
        "sdp",
        lambda msg, bad: msg.update(sdp="v=0\r\nm=audio 9 UDP 0\r\na=" + bad + "\r\n"),
    ),
    (
        {"type": "candidate", "pc": "sub"},
        "candidate.candidate",
        lambda msg, bad: msg.update(candidate={"candidate": "candidate:" + bad}),
    ),
    ({"type": "leave"}, "ref", lambda msg, bad: msg.update(ref=bad)),
]


@pytest.mark.parametrize("reason", sorted(BAD))
@pytest.mark.parametrize(("base", "field", "put"), CARRIERS)
def test_every_string_field_is_refused_with_invalid_text(
    base: dict[str, Any], field: str, put: Any, reason: str
) -> None:
    message = json.loads(json.dumps(base))
    put(message, BAD[reason])
    with pytest.raises(m.ProtocolError) as caught:
        m.parse(message)
    error = caught.value
    # A link holding any of them is simply not an http address.
    if field in ("link", "image"):
        assert error.code == "invalid_field"
        return
    assert (error.code, error.params["field"], error.params["reason"]) == (
        "invalid_text",
        field,
        reason,
    )
    assert error.params["char"].startswith("U+")
    assert error.detail.endswith(".") and field in error.detail


def test_the_refusal_reaches_the_client_with_its_parameters() -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.parse({"type": "chat_send", "text": "x\ud800", "ref": "r1"})
    exc = caught.value
    wire = m.error(exc.code, exc.detail, exc.ref, **exc.params)
    assert wire == {
        "type": "error",
        "code": "invalid_text",
        "field": "text",
        "reason": "bad_unicode",
        "char": "U+D800",
        "message": "'text' is not valid Unicode text (it holds a lone surrogate).",
        "ref": "r1",
    }
    json.dumps(wire, ensure_ascii=False).encode()  # the error itself is sendable


def test_names_and_titles_refuse_isolates_that_free_text_allows() -> None:
    assert (
        m.parse({"type": "chat_send", "text": "\u2067שלום\u2069 hi"}).text == "\u2067שלום\u2069 hi"
    )
    with pytest.raises(m.ProtocolError) as caught:
        m.parse({**PIN, "title": "\u2067Tote\u2069"})
    assert caught.value.params["reason"] == "bidi_control"


def test_multiline_chat_and_sdp_line_ends_are_accepted() -> None:
    assert m.parse({"type": "chat_send", "text": " a\nb\t "}).text == "a\nb"
    sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    assert m.parse({"type": "offer", "pc": "sub", "sdp": sdp}).sdp == sdp
    with pytest.raises(m.ProtocolError):
        m.parse({**POLL, "question": "two\nlines"})


def test_an_unknown_type_with_a_surrogate_is_echoed_escaped() -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.parse({"type": "x\ud800"})
    assert caught.value.code == "unknown_type"
    caught.value.detail.encode()


@pytest.mark.parametrize("binary", [False, True])
def test_a_stored_surrogate_is_replaced_on_the_way_out(
    binary: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A name written to Redis before the text rules still encodes (as U+FFFD)."""
    message = {"type": "joined", "you": {"name": "Ann\ud800"}, "participants": [{"name": "\udfff"}]}
    with caplog.at_level(logging.WARNING):
        frame = m.encode_frame(message, binary)
    decoded = msgpack.unpackb(frame) if binary else json.loads(frame.encode())  # type: ignore[union-attr]
    assert decoded["you"]["name"] == "Ann\ufffd"
    assert decoded["participants"][0]["name"] == "\ufffd"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert not any(r.exc_info for r in caplog.records)


def test_a_broadcast_that_cannot_be_encoded_is_dropped_once_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = FrameCache()
    event = {"thing": object()}  # nothing in JSON or msgpack for it
    with caplog.at_level(logging.ERROR):
        frames = [cache.frame(event, "odd", False, lambda: {"type": "odd", **event}) for _ in "ab"]
    assert frames == [None, None]
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is None


@pytest.mark.parametrize(
    ("data", "binary"),
    [("[" * 30000, False), ('{"a":' * 30000, False), (b"\x91" * 30000, True)],
)
def test_deep_nesting_is_bad_message_not_a_recursion_error(data: str | bytes, binary: bool) -> None:
    """Issue 9, defect 3: ``[`` x 30,000 raised RecursionError with a traceback per frame."""
    with pytest.raises(m.ProtocolError) as caught:
        m.decode_frame(data, binary)
    assert caught.value.code == "bad_message"


def test_ping_is_answered_with_pong() -> None:
    assert m.parse({"type": "ping", "ref": "p1"}) == m.Ping(ref="p1")
    assert m.pong("p1") == {"type": "pong", "ref": "p1"}
