"""Client messages of the interactions feature: frozen dataclasses and their parsers.

Chat, reactions, Q&A, polls and product moments (see docs/protocol.md, "Interactions").
``PARSERS`` maps a message type to a function ``(obj, ref) -> message``; ``messages.parse``
merges it into the one parsing table. Parsers check shape and absolute sizes only; limits
that operators configure (chat length, say) are the feature's to enforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from server.rooms.polls import MAX_OPTIONS, MIN_OPTIONS
from server.rooms.reactions import REACTIONS
from server.signaling.fields import (
    choice,
    identifier,
    integer,
    invalid,
    label,
    refused_text,
    text,
)
from server.signaling.message_shapes import ById, Parser, RefOnly, WithText, bare, by_id
from server.text import TextError, clean_text, find_problem

# Hard ceilings, whatever the settings say (the configured limits are lower).
MAX_TEXT = 4000
MAX_POLL_QUESTION = 200
MAX_POLL_OPTION = 80
MAX_PRODUCT_TITLE = 120
MAX_PRICE = 32
MAX_URL = 2048


@dataclass(frozen=True, slots=True)
class ChatSend(WithText):
    type: Literal["chat_send"] = "chat_send"


@dataclass(frozen=True, slots=True)
class ChatDelete(ById):
    type: Literal["chat_delete"] = "chat_delete"


@dataclass(frozen=True, slots=True)
class React:
    emoji: str
    ref: str | None = None
    type: Literal["reaction"] = "reaction"


@dataclass(frozen=True, slots=True)
class QuestionAsk(WithText):
    type: Literal["question_ask"] = "question_ask"


@dataclass(frozen=True, slots=True)
class QuestionUpvote(ById):
    type: Literal["question_upvote"] = "question_upvote"


@dataclass(frozen=True, slots=True)
class QuestionUnvote(ById):
    type: Literal["question_unvote"] = "question_unvote"


@dataclass(frozen=True, slots=True)
class QuestionAnswer(ById):
    type: Literal["question_answer"] = "question_answer"


@dataclass(frozen=True, slots=True)
class QuestionPin(ById):
    type: Literal["question_pin"] = "question_pin"


@dataclass(frozen=True, slots=True)
class QuestionUnpin(ById):
    type: Literal["question_unpin"] = "question_unpin"


@dataclass(frozen=True, slots=True)
class QuestionDismiss(ById):
    type: Literal["question_dismiss"] = "question_dismiss"


@dataclass(frozen=True, slots=True)
class PollCreate:
    question: str
    options: tuple[str, ...]
    ref: str | None = None
    type: Literal["poll_create"] = "poll_create"


@dataclass(frozen=True, slots=True)
class PollVote:
    id: str
    option: int
    ref: str | None = None
    type: Literal["poll_vote"] = "poll_vote"


@dataclass(frozen=True, slots=True)
class PollClose(ById):
    type: Literal["poll_close"] = "poll_close"


@dataclass(frozen=True, slots=True)
class ProductPin:
    id: str
    title: str
    price: str
    link: str
    image: str | None = None
    ref: str | None = None
    type: Literal["product_pin"] = "product_pin"


@dataclass(frozen=True, slots=True)
class ProductUnpin(RefOnly):
    type: Literal["product_unpin"] = "product_unpin"


@dataclass(frozen=True, slots=True)
class ProductClick(ById):
    type: Literal["product_click"] = "product_click"


InteractionMessage = (
    ChatSend
    | ChatDelete
    | React
    | QuestionAsk
    | QuestionUpvote
    | QuestionUnvote
    | QuestionAnswer
    | QuestionPin
    | QuestionUnpin
    | QuestionDismiss
    | PollCreate
    | PollVote
    | PollClose
    | ProductPin
    | ProductUnpin
    | ProductClick
)


# --- field checks particular to interactions -------------------------------------------


def http_url(obj: dict[str, Any], key: str, ref: str | None) -> str:
    """An absolute http(s) URL with a host and no user name or password in it."""
    value = obj.get(key)
    bad = invalid(f"'{key}' must be an http or https address of at most {MAX_URL} characters.", ref)
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise bad
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise bad
    if find_problem(value, multiline=False, label=False) is not None:
        raise bad  # a lone surrogate or a bidi override is no address either
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad
    if parts.username is not None or parts.password is not None:
        raise bad
    return value


def _options(obj: dict[str, Any], ref: str | None) -> tuple[str, ...]:
    value = obj.get("options")
    if not isinstance(value, list | tuple) or not MIN_OPTIONS <= len(value) <= MAX_OPTIONS:
        raise invalid(f"'options' must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} texts.", ref)
    options: list[str] = []
    for index, item in enumerate(value):
        try:
            options.append(clean_text(item, f"options[{index}]", MAX_POLL_OPTION))
        except TextError as exc:
            raise refused_text(exc, ref) from None
    if len({o.casefold() for o in options}) != len(options):
        raise invalid("The options must all be different.", ref)
    return tuple(options)


# --- parsers -----------------------------------------------------------------------------


def _id(obj: dict[str, Any], ref: str | None) -> str:
    return identifier(obj, "id", ref)


def _product_pin(obj: dict[str, Any], ref: str | None) -> ProductPin:
    image = obj.get("image")
    return ProductPin(
        id=_id(obj, ref),
        title=label(obj, "title", MAX_PRODUCT_TITLE, ref),
        price=label(obj, "price", MAX_PRICE, ref),
        link=http_url(obj, "link", ref),
        image=None if image is None or image == "" else http_url(obj, "image", ref),
        ref=ref,
    )


PARSERS: dict[str, Parser[InteractionMessage]] = {
    "chat_send": lambda o, r: ChatSend(text=text(o, "text", MAX_TEXT, r, multiline=True), ref=r),
    "chat_delete": by_id(ChatDelete),
    "reaction": lambda o, r: React(emoji=choice(o, "emoji", REACTIONS, r), ref=r),
    "question_ask": lambda o, r: QuestionAsk(
        text=text(o, "text", MAX_TEXT, r, multiline=True), ref=r
    ),
    "question_upvote": by_id(QuestionUpvote),
    "question_unvote": by_id(QuestionUnvote),
    "question_answer": by_id(QuestionAnswer),
    "question_pin": by_id(QuestionPin),
    "question_unpin": by_id(QuestionUnpin),
    "question_dismiss": by_id(QuestionDismiss),
    "poll_create": lambda o, r: PollCreate(
        question=text(o, "question", MAX_POLL_QUESTION, r),
        options=_options(o, r),
        ref=r,
    ),
    "poll_vote": lambda o, r: PollVote(
        id=_id(o, r), option=integer(o, "option", 0, MAX_OPTIONS - 1, r), ref=r
    ),
    "poll_close": by_id(PollClose),
    "product_pin": _product_pin,
    "product_unpin": bare(ProductUnpin),
    "product_click": by_id(ProductClick),
}
