"""Client messages of the interactions feature: frozen dataclasses and their parsers.

``PARSERS`` maps a message type to a function ``(obj, ref) -> message``; ``messages.parse``
merges it into the one parsing table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PARSERS: dict[str, Callable[[dict[str, Any], str | None], Any]] = {}
