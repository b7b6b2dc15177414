"""Shapes that many client messages share, and parsers for them.

A message class still declares its own ``type`` tag (a ``Literal``) and stays frozen and
slotted; what it shares is its fields: only ``ref``, an ``id``, a ``participant`` or a
``text``. ``bare``, ``by_id`` and ``to_participant`` build the parser for such a class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from server.signaling.fields import identifier

M = TypeVar("M")
# ``(obj, ref) -> message``: one message type's parser, typed by what it returns.
Parser = Callable[[dict[str, Any], str | None], M]
R = TypeVar("R", bound="RefOnly")
B = TypeVar("B", bound="ById")
P = TypeVar("P", bound="ToParticipant")


@dataclass(frozen=True, slots=True)
class RefOnly:
    """A message with no fields of its own (raise a hand, leave, unpin the product)."""

    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ById:
    """A message about one thing the room holds (a chat line, question, poll, product)."""

    id: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ToParticipant:
    """A moderator's move on one participant (invite, mute, make co-host, …)."""

    participant: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class WithText:
    """A message carrying text people wrote (a chat line, a question)."""

    text: str
    ref: str | None = None


def bare(cls: type[R]) -> Parser[R]:
    return lambda obj, ref: cls(ref=ref)


def by_id(cls: type[B]) -> Parser[B]:
    return lambda obj, ref: cls(id=identifier(obj, "id", ref), ref=ref)


def to_participant(cls: type[P]) -> Parser[P]:
    return lambda obj, ref: cls(participant=identifier(obj, "participant", ref), ref=ref)
