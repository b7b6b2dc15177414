"""The interactions wire format: stored samples, round trips, and every malformed shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.signaling import messages as m
from server.signaling import messages_interactions as mi
from server.text import find_problem

LINK = "https://shop.example.com/p/bag-1"

SAMPLES: list[tuple[dict[str, Any], Any]] = [
    ({"type": "chat_send", "text": "<b>hi</b>"}, mi.ChatSend(text="<b>hi</b>")),
    ({"type": "chat_delete", "id": "c12", "ref": "r"}, mi.ChatDelete(id="c12", ref="r")),
    ({"type": "reaction", "emoji": "heart"}, mi.React(emoji="heart")),
    ({"type": "question_ask", "text": "why?"}, mi.QuestionAsk(text="why?")),
    ({"type": "question_upvote", "id": "q1"}, mi.QuestionUpvote(id="q1")),
    ({"type": "question_unvote", "id": "q1"}, mi.QuestionUnvote(id="q1")),
    ({"type": "question_answer", "id": "q1"}, mi.QuestionAnswer(id="q1")),
    ({"type": "question_pin", "id": "q1"}, mi.QuestionPin(id="q1")),
    ({"type": "question_unpin", "id": "q1"}, mi.QuestionUnpin(id="q1")),
    ({"type": "question_dismiss", "id": "q1"}, mi.QuestionDismiss(id="q1")),
    (
        {"type": "poll_create", "question": " Which? ", "options": [" Red", "Sand "]},
        mi.PollCreate(question="Which?", options=("Red", "Sand")),
    ),
    ({"type": "poll_vote", "id": "v1", "option": 5}, mi.PollVote(id="v1", option=5)),
    ({"type": "poll_close", "id": "v1"}, mi.PollClose(id="v1")),
    (
        {"type": "product_pin", "id": "bag-1", "title": "Bag", "price": "€49", "link": LINK},
        mi.ProductPin(id="bag-1", title="Bag", price="€49", link=LINK),
    ),
    (
        {
            "type": "product_pin",
            "id": "bag-1",
            "title": "Bag",
            "price": "€49",
            "link": LINK,
            "image": "http://cdn.example.com:8080/a.jpg?x=1",
        },
        mi.ProductPin(
            id="bag-1",
            title="Bag",
            price="€49",
            link=LINK,
            image="http://cdn.example.com:8080/a.jpg?x=1",
        ),
    ),
    ({"type": "product_unpin"}, mi.ProductUnpin()),
    ({"type": "product_click", "id": "bag-1"}, mi.ProductClick(id="bag-1")),
]


@pytest.mark.parametrize(("wire", "expected"), SAMPLES)
def test_samples_parse_and_round_trip(wire: dict[str, Any], expected: Any) -> None:
    assert m.parse(wire) == expected
    assert m.parse(m.to_wire(expected)) == expected
    for binary in (False, True):
        frame = m.encode_frame(m.to_wire(expected), binary)
        assert m.parse(m.decode_frame(frame, binary)) == expected


def test_every_message_type_has_a_sample_and_a_handler_limit() -> None:
    from server.signaling.interactions import LIMIT_OF

    assert {type(sample) for _, sample in SAMPLES} == set(LIMIT_OF)
    assert {sample.type for _, sample in SAMPLES} == set(mi.PARSERS)


PIN = {"type": "product_pin", "id": "bag-1", "title": "Bag", "price": "€49", "link": LINK}


@pytest.mark.parametrize(
    "wire",
    [
        {"type": "chat_send"},
        {"type": "chat_send", "text": ""},
        {"type": "chat_send", "text": " \n\t "},
        {"type": "chat_send", "text": ["hi"]},
        {"type": "chat_send", "text": "x" * (mi.MAX_TEXT + 1)},
        {"type": "chat_delete", "id": "has space"},
        {"type": "chat_delete"},
        {"type": "reaction", "emoji": "❤️"},
        {"type": "reaction", "emoji": "poop"},
        {"type": "reaction"},
        {"type": "question_ask", "text": 42},
        {"type": "question_upvote", "id": ""},
        {"type": "question_upvote", "id": "q" * 65},
        {"type": "poll_create", "question": "Q", "options": ["only one"]},
        {"type": "poll_create", "question": "Q", "options": [str(n) for n in range(7)]},
        {"type": "poll_create", "question": "Q", "options": ["a", "A "]},
        {"type": "poll_create", "question": "Q", "options": ["a", ""]},
        {"type": "poll_create", "question": "Q", "options": ["a", 2]},
        {"type": "poll_create", "question": "Q", "options": "a,b"},
        {"type": "poll_create", "question": "Q", "options": ["a", "b" * 81]},
        {"type": "poll_create", "question": "x" * 201, "options": ["a", "b"]},
        {"type": "poll_create", "options": ["a", "b"]},
        {"type": "poll_vote", "id": "v1", "option": -1},
        {"type": "poll_vote", "id": "v1", "option": 6},
        {"type": "poll_vote", "id": "v1", "option": True},
        {"type": "poll_vote", "id": "v1", "option": "1"},
        {"type": "poll_vote", "id": "v1"},
        {**PIN, "link": "javascript:alert(1)"},
        {**PIN, "link": "JAVASCRIPT://shop.example.com/%0aalert(1)"},
        {**PIN, "link": "data:text/html,hi"},
        {**PIN, "link": "https://"},
        {**PIN, "link": "https://user:pass@shop.example.com/"},
        {**PIN, "link": "https://shop.example.com:99999/"},
        {**PIN, "link": "https://shop.example.com/ space"},
        {**PIN, "link": "https://[::1"},
        {**PIN, "link": "//shop.example.com/p"},
        {**PIN, "link": "https://shop.example.com/" + "a" * mi.MAX_URL},
        {**PIN, "image": "data:image/png;base64,AAAA"},
        {**PIN, "image": 5},
        {**PIN, "title": ""},
        {**PIN, "title": "t" * 121},
        {**PIN, "price": "9" * 33},
        {**PIN, "id": "bag 1"},
        {"type": "product_click", "id": None},
    ],
)
def test_malformed_interactions_are_invalid_fields(wire: dict[str, Any]) -> None:
    with pytest.raises(m.ProtocolError) as caught:
        m.parse({**wire, "ref": "r9"})
    assert caught.value.code == "invalid_field"
    assert caught.value.ref == "r9"
    assert caught.value.detail.endswith(".")


@given(st.text(min_size=1, max_size=200))
def test_chat_text_parses_trimmed_or_is_refused_by_the_text_rules(text: str) -> None:
    problem = find_problem(text, multiline=True, label=False)
    if problem is not None or not text.strip():
        with pytest.raises(m.ProtocolError) as caught:
            m.parse({"type": "chat_send", "text": text})
        assert caught.value.code == ("invalid_text" if problem else "invalid_field")
        assert caught.value.params["field"] == "text"
        return
    assert m.parse({"type": "chat_send", "text": text}) == mi.ChatSend(text=text.strip())


@given(st.text(max_size=300))
def test_product_links_are_http_or_refused(link: str) -> None:
    """Whatever arrives as a link, only an absolute http(s) URL gets through."""
    try:
        parsed = m.parse({**PIN, "link": link})
    except m.ProtocolError as exc:
        assert exc.code == "invalid_field"
        return
    assert parsed.link.lower().startswith(("http://", "https://"))
    assert not any(c.isspace() for c in parsed.link)
