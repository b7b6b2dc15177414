"""The pure checks of webhook endpoints and scheduled sessions: every refusal has a code
and a sentence, every accepted value comes back normalised."""

from __future__ import annotations

from typing import Any

import pytest

from server.hooks.model import HookError, check_code, check_cover, parse_session, parse_time_ms
from server.http.commerce import check_signature, sign
from server.webhooks.store import WebhookError, check_kinds, check_secret, check_url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "https://crm.example.com/salon?x=1", "http://[::1]/h"],
)
def test_http_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["ftp://h/x", "/relative", "http://", "javascript:alert(1)", "https://u:p@h/x", 7, "x" * 3000],
)
def test_other_urls_are_refused(url: Any) -> None:
    with pytest.raises(WebhookError) as caught:
        check_url(url)
    assert caught.value.code == "bad_url" and "http" in caught.value.sentence()


def test_kinds_are_known_deduplicated_or_all() -> None:
    assert check_kinds("rsvp.created, session.started,rsvp.created") == (
        "rsvp.created",
        "session.started",
    )
    assert check_kinds(["rsvp.created", "*"]) == ("*",)
    for bad in ("nope", [], ["rsvp.created", 3], None):
        with pytest.raises(WebhookError):
            check_kinds(bad)


def test_secrets_are_generated_or_checked() -> None:
    assert check_secret(None).startswith("whsec_")
    for bad in ("short", "has a space 0123456789", "x" * 200, 12):
        with pytest.raises(WebhookError):
            check_secret(bad)


def test_a_delivery_signature_verifies_and_a_changed_body_does_not() -> None:
    header = sign("whsec_0123456789abcdef", b'{"a":1}', 1_700_000_000)
    assert check_signature("whsec_0123456789abcdef", header, b'{"a":1}', 1_700_000_010, 300) is None
    assert check_signature("whsec_0123456789abcdef", header, b'{"a":2}', 1_700_000_010, 300)


def test_times_need_a_zone() -> None:
    assert parse_time_ms("2031-03-01T19:30:00+08:00") == 1930131000000
    assert parse_time_ms("2031-03-01T11:30:00Z") == 1930131000000
    assert parse_time_ms(1930131000000) == 1930131000000
    for bad in ("2031-03-01T19:30:00", "tomorrow", True, -5, None):
        with pytest.raises(HookError) as caught:
            parse_time_ms(bad)
        assert caught.value.code == "bad_time"


def test_sessions_are_parsed_with_defaults_and_refused_with_codes() -> None:
    session = parse_session("s1", {"room_id": "r1", "title": " Launch ", "starts_at": 1})
    assert (session.title, session.tiers, session.capacity, session.duration_min) == (
        "Launch",
        ("core", "active", "potential"),
        100,
        60,
    )
    assert session.ends_ms == 1 + 60 * 60_000
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("bad id", {"room_id": "r1", "title": "t", "starts_at": 1}, "bad_id"),
        ("s1", {"room_id": "r1", "title": "a\u202eb", "starts_at": 1}, "text"),
        ("s1", {"room_id": "r1", "title": "t", "starts_at": 1, "tiers": "gold"}, "bad_tiers"),
        ("s1", {"room_id": "r1", "title": "t", "starts_at": 1, "capacity": "9"}, "bad_number"),
    ]
    for session_id, body, code in cases:
        with pytest.raises(HookError) as caught:
            parse_session(session_id, body)
        assert caught.value.code == code and caught.value.sentence()


def test_covers_and_codes() -> None:
    assert check_cover("https://cdn.example.com/a.jpg") == "https://cdn.example.com/a.jpg"
    assert check_cover("/static/cover.png") == "/static/cover.png"
    for bad in ("http://x/a.jpg", "javascript:x", "https://x/a b.jpg", 'https://x/"'):
        with pytest.raises(HookError):
            check_cover(bad)
    assert len(check_code(None)) == 8
    assert check_code("wecom-group_1") == "wecom-group_1"
    for bad in ("ab", "a/b", "x" * 33):
        with pytest.raises(HookError):
            check_code(bad)
