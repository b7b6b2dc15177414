"""The text rules every edge applies (server/text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.text import TextError, clean_label, clean_text


def test_lone_surrogate_is_refused() -> None:
    """Regression: ``"x\\ud800"`` in a chat line killed every JSON recipient's writer."""
    with pytest.raises(TextError) as caught:
        clean_text("x\ud800", "text", 500)
    assert caught.value.code == "bad_unicode"
    assert caught.value.field == "text"


@pytest.mark.parametrize(
    ("value", "code", "char"),
    [
        ("a\x00b", "control_character", "U+0000"),
        ("a\x1bb", "control_character", "U+001B"),
        ("a\nb", "control_character", "U+000A"),
        ("evil\u202etxt", "bidi_control", "U+202E"),
    ],
)
def test_controls_are_refused_in_one_line_text(value: str, code: str, char: str) -> None:
    with pytest.raises(TextError) as caught:
        clean_text(value, "text", 500)
    assert (caught.value.code, caught.value.params) == (code, {"char": char})


def test_multiline_text_keeps_newlines_and_tabs() -> None:
    assert clean_text(" a\n\tb ", "text", 500, multiline=True) == "a\n\tb"


def test_isolates_are_free_text_but_not_labels() -> None:
    line = "say \u2067\u0645\u0631\u062d\u0628\u0627\u2069 now"
    assert clean_text(line, "text", 500) == line
    with pytest.raises(TextError) as caught:
        clean_label(line, "name", 80)
    assert caught.value.code == "bidi_control"


@pytest.mark.parametrize(
    ("value", "code"),
    [(None, "not_text"), (3, "not_text"), ("   ", "empty"), ("x" * 81, "too_long")],
)
def test_shape_errors(value: object, code: str) -> None:
    with pytest.raises(TextError) as caught:
        clean_label(value, "name", 80)
    assert caught.value.code == code
    assert caught.value.sentence().startswith("'name'")


def test_chinese_and_emoji_pass() -> None:
    assert clean_label(" 王小明 🎉 ", "name", 80) == "王小明 🎉"


@given(st.text(max_size=200))
def test_whatever_passes_encodes_as_utf8(value: str) -> None:
    """Anything accepted can be written to a JSON socket and to msgpack."""
    try:
        text = clean_text(value, "text", 500, multiline=True)
    except TextError as exc:
        assert exc.sentence()
        return
    text.encode("utf-8")
