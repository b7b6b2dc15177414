"""What counts as acceptable text from outside, checked once at each edge.

Every string that enters Salon (a WebSocket message, a REST body, a CLI argument, an
imported row) passes through :func:`clean_text` or :func:`clean_label` before it is
stored, broadcast or recorded. Both are pure: they return the string, stripped of
surrounding white space, or raise :class:`TextError` with a stable ``code`` and the
parameters a sentence needs; the edge renders that sentence.

- **Lone surrogates** (``"\\ud800"``: a legal JSON escape that no UTF-8 encoder accepts)
  are refused everywhere: one such string once silenced every JSON socket of a room.
- **Control characters** (Unicode category ``Cc``: NUL, escape, ...) are refused, except
  newline and tab in multi-line text.
- **Bidi overrides and embeddings** (U+202A-U+202E) reorder what surrounds them and can
  make a name read as something else; they are refused everywhere. Isolates
  (U+2066-U+2069) and marks stay allowed in free text (Arabic or Hebrew inside a chat
  line) but not in labels (names, titles), where nothing needs them.
- **Line and paragraph separators** (U+2028, U+2029) are refused in labels.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["TextError", "clean_label", "clean_text", "find_problem"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e")
_LABEL_ONLY = frozenset("\u2066\u2067\u2068\u2069\u2028\u2029\u200e\u200f\u061c")
_MULTILINE_CONTROLS = frozenset("\n\t")


class TextError(ValueError):
    """Text refused at an edge: ``code`` for programs, ``params`` for the sentence.

    Codes: ``not_text`` (not a string), ``empty``, ``too_long`` (``limit``),
    ``bad_unicode`` (a lone surrogate), ``control_character`` and ``bidi_control``
    (``char``: the code point, e.g. ``U+202E``). ``field`` names what was refused.
    """

    def __init__(self, code: str, field: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params

    def sentence(self) -> str:
        """The English sentence for logs, the CLI and the REST edge."""
        f = self.field
        match self.code:
            case "not_text":
                return f"'{f}' must be a string."
            case "empty":
                return f"'{f}' must not be empty."
            case "too_long":
                return f"'{f}' must be at most {self.params['limit']} characters."
            case "bad_unicode":
                return f"'{f}' is not valid Unicode text (it holds a lone surrogate)."
            case "control_character":
                return f"'{f}' holds a control character ({self.params['char']})."
            case _:
                return f"'{f}' holds a bidirectional control character ({self.params['char']})."


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def find_problem(value: str, *, multiline: bool, label: bool) -> tuple[str, str] | None:
    """The first problem in ``value`` as ``(code, char)``, or None if it is acceptable."""
    match = _SURROGATE.search(value)
    if match is not None:
        return "bad_unicode", _code_point(match.group())
    for char in value:
        if char in _BIDI_OVERRIDES or (label and char in _LABEL_ONLY):
            return "bidi_control", _code_point(char)
        if unicodedata.category(char) == "Cc" and not (multiline and char in _MULTILINE_CONTROLS):
            return "control_character", _code_point(char)
    return None


def _check(value: Any, field: str, limit: int, *, multiline: bool, label: bool) -> str:
    if not isinstance(value, str):
        raise TextError("not_text", field)
    problem = find_problem(value, multiline=multiline, label=label)
    if problem is not None:
        raise TextError(problem[0], field, char=problem[1])
    text = value.strip()
    if not text:
        raise TextError("empty", field)
    if len(text) > limit:
        raise TextError("too_long", field, limit=limit)
    return text


def clean_text(value: Any, field: str, limit: int, *, multiline: bool = False) -> str:
    """Free text (a chat line, a question, a poll option), stripped; or ``TextError``."""
    return _check(value, field, limit, multiline=multiline, label=False)


def clean_label(value: Any, field: str, limit: int) -> str:
    """A name or a title: one line, no bidi controls of any kind; or ``TextError``."""
    return _check(value, field, limit, multiline=False, label=True)
