"""Field checks shared by every message parser; each failure is a ``ProtocolError``."""

from __future__ import annotations

from typing import Any, Literal

from server.ids import is_valid_id


class ProtocolError(Exception):
    """A client message the server cannot accept: ``code`` for programs, ``detail`` for people."""

    def __init__(self, code: str, detail: str, ref: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


def invalid(detail: str, ref: str | None) -> ProtocolError:
    return ProtocolError("invalid_field", detail, ref)


def string(obj: dict[str, Any], key: str, limit: int, ref: str | None) -> str:
    """A required, non-empty string of at most ``limit`` characters."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{key}' must be a non-empty string.", ref)
    if len(value) > limit:
        raise invalid(f"'{key}' is longer than {limit} characters.", ref)
    return value


def optional_string(obj: dict[str, Any], key: str, limit: int, ref: str | None) -> str | None:
    if obj.get(key) is None:
        return None
    return string(obj, key, limit, ref)


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
