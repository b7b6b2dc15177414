"""Client messages of the people list: another page of it, and a moderator's search.

``PARSERS`` is merged into ``messages.parse``'s table; who may search is the feature's
business (``server/signaling/people.py``). See docs/protocol.md, "People".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.signaling.fields import integer, text
from server.signaling.message_shapes import Parser

MAX_QUERY = 64
# Join numbers are positive and grow by one per join; this only bounds the field.
MAX_CURSOR = 2**53


@dataclass(frozen=True, slots=True)
class PeoplePage:
    """Members who joined before ``before`` (a page's ``next``), newest first."""

    before: int | None = None
    ref: str | None = None
    type: Literal["people_page"] = "people_page"


@dataclass(frozen=True, slots=True)
class PeopleSearch:
    query: str
    ref: str | None = None
    type: Literal["people_search"] = "people_search"


def _page(obj: dict[str, Any], ref: str | None) -> PeoplePage:
    before = integer(obj, "before", 1, MAX_CURSOR, ref) if obj.get("before") is not None else None
    return PeoplePage(before=before, ref=ref)


def _search(obj: dict[str, Any], ref: str | None) -> PeopleSearch:
    return PeopleSearch(query=text(obj, "query", MAX_QUERY, ref), ref=ref)


PeopleMessage = PeoplePage | PeopleSearch
MESSAGE_TYPES: tuple[type, ...] = (PeoplePage, PeopleSearch)

PARSERS: dict[str, Parser[PeopleMessage]] = {
    "people_page": _page,
    "people_search": _search,
}
