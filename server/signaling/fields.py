"""Field checks shared by every message parser; each failure is a ``ProtocolError``.

Every string a client sends passes one of these once, at parse time, with the shared
rules of ``server.text``: free text (``text``), names and titles (``label``), and the
machine strings (tokens, SDP, URLs, refs) that are echoed or stored (``wire_safe``). A
refused string changes nothing and gets ``invalid_text`` (what it holds is not
acceptable: a lone surrogate, a control or bidi character) or ``invalid_field`` (missing,
empty or too long), with ``field`` and ``reason`` (the ``TextError`` code) as parameters.
"""

from __future__ import annotations

from typing import Any, Literal

from server.ids import is_valid_id
from server.text import TextError, clean_label, clean_text, find_problem

# TextError codes that say what a string holds (the rest say it is missing or too long).
CONTENT_PROBLEMS = frozenset({"bad_unicode", "control_character", "bidi_control"})


# Every code a ProtocolError or the session itself may send (a refused message, not a
# domain refusal: those are ``server.rooms.errors.CODES``). The pages' catalogs cover both.
PROTOCOL_CODES = frozenset(
    {
        "bad_message",
        "unknown_type",
        "invalid_field",
        "invalid_text",
        "not_joined",
        "already_joined",
        "join_timeout",
        "wrong_encoding",
        "internal",
    }
)


class ProtocolError(Exception):
    """A client message the server cannot accept: ``code`` and ``params`` for programs,
    ``detail`` for people."""

    def __init__(self, code: str, detail: str, ref: str | None = None, **params: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref
        self.params = params


def invalid(detail: str, ref: str | None) -> ProtocolError:
    return ProtocolError("invalid_field", detail, ref)


def refused_text(error: TextError, ref: str | None) -> ProtocolError:
    """The wire error for a string ``server.text`` refused."""
    code = "invalid_text" if error.code in CONTENT_PROBLEMS else "invalid_field"
    return ProtocolError(
        code, error.sentence(), ref, field=error.field, reason=error.code, **error.params
    )


def text(
    obj: dict[str, Any], key: str, limit: int, ref: str | None, *, multiline: bool = False
) -> str:
    """Required free text (a chat line, a question, a poll option), trimmed."""
    try:
        return clean_text(obj.get(key), key, limit, multiline=multiline)
    except TextError as exc:
        raise refused_text(exc, ref) from None


def label(obj: dict[str, Any], key: str, limit: int, ref: str | None) -> str:
    """A required name or title (one line, no bidi controls), trimmed."""
    try:
        return clean_label(obj.get(key), key, limit)
    except TextError as exc:
        raise refused_text(exc, ref) from None


def wire_safe(value: str, field: str, ref: str | None, *, multiline: bool = False) -> str:
    """``value`` unchanged if it holds no lone surrogate, control or bidi character.

    For strings kept as sent (tokens, SDP, URLs, refs): ``multiline`` allows the CR, LF
    and tab that SDP is made of.
    """
    checked = value.replace("\r\n", "\n") if multiline else value
    problem = find_problem(checked, multiline=multiline, label=False)
    if problem is not None:
        raise refused_text(TextError(problem[0], field, char=problem[1]), ref)
    return value


def string(
    obj: dict[str, Any], key: str, limit: int, ref: str | None, *, multiline: bool = False
) -> str:
    """A required, non-empty string of at most ``limit`` characters, kept as sent."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{key}' must be a non-empty string.", ref)
    if len(value) > limit:
        raise invalid(f"'{key}' is longer than {limit} characters.", ref)
    return wire_safe(value, key, ref, multiline=multiline)


def identifier(obj: dict[str, Any], key: str, ref: str | None) -> str:
    """A room, member, participant or item id (see ``server.ids``)."""
    value = obj.get(key)
    if not is_valid_id(value):
        raise invalid(f"'{key}' must be an id (letters, digits, '.', '_', '-').", ref)
    return str(value)


def integer(obj: dict[str, Any], key: str, low: int, high: int, ref: str | None) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"'{key}' must be a whole number from {low} to {high}.", ref)
    return value


def boolean(obj: dict[str, Any], key: str, ref: str | None) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise invalid(f"'{key}' must be true or false.", ref)
    return value


def choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...], ref: str | None) -> str:
    value = obj.get(key)
    if value not in allowed:
        raise invalid(f"'{key}' must be one of {', '.join(allowed)}.", ref)
    return str(value)


def pc(obj: dict[str, Any], ref: str | None) -> Literal["pub", "sub"]:
    value = obj.get("pc")
    if value == "pub":
        return "pub"
    if value == "sub":
        return "sub"
    raise invalid('\'pc\' must be "pub" or "sub".', ref)
