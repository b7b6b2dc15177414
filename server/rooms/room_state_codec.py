"""How the Redis room state writes the domain values: msgpack lists, field by field.

It owns the byte form of a chat message, a question board, a poll box and a room's shop
(its product shelf with the hosts' journal) as ``server/rooms/room_state_redis.py`` keeps
them. Decoding builds the plain domain objects back (``ChatMessage``, ``QaBoard``,
``PollBox``, ``ProductShelf``, ``SessionJournal``), so that the rules stay theirs.
"""

from __future__ import annotations

from typing import Any

import msgpack

from server.ids import MemberId, ParticipantId
from server.rooms.chat import Author, ChatMessage
from server.rooms.journal import SessionJournal
from server.rooms.polls import Poll, PollBox, PollState
from server.rooms.products import Product, ProductShelf, ProductStats
from server.rooms.qa import QaBoard, Question, QuestionState
from server.settings import InteractionSettings


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


# --- chat ----------------------------------------------------------------------------


def _author(a: Author) -> list[str]:
    return [a.participant_id, a.member_id, a.name, a.role]


def _author_of(v: list[str]) -> Author:
    return Author(ParticipantId(v[0]), MemberId(v[1]), v[2], v[3])


def chat_body(author: Author, text: str, at_ms: int) -> bytes:
    """A message without its id (the store numbers it)."""
    return pack([_author(author), text, at_ms])


def chat_message(message_id: str, body: bytes) -> ChatMessage:
    author, text, at_ms = unpack(body)
    return ChatMessage(message_id, _author_of(author), text, at_ms)


# --- Q&A -----------------------------------------------------------------------------


def dump_qa(board: QaBoard) -> bytes:
    seq, questions = board.snapshot()
    rows = [
        [
            q.question_id,
            q.seq,
            _author(q.author),
            q.text,
            q.asked_ms,
            q.state.value,
            q.pinned,
            sorted(q.voters),
        ]
        for q in questions
    ]
    return pack([seq, rows])


def load_qa(data: bytes | None, settings: InteractionSettings) -> QaBoard:
    board = QaBoard(settings.max_questions, settings.question_max_length)
    if data is not None:
        seq, rows = unpack(data)
        questions = [
            Question(
                qid,
                n,
                _author_of(a),
                text,
                at,
                QuestionState(state),
                pinned,
                {MemberId(m) for m in voters},
            )
            for qid, n, a, text, at, state, pinned, voters in rows
        ]
        board.restore(seq, questions)
    return board


# --- polls ---------------------------------------------------------------------------


def dump_polls(box: PollBox) -> bytes:
    seq, polls = box.snapshot()
    rows = [
        [p.poll_id, p.question, list(p.options), p.created_ms, p.state.value, p.votes]
        for p in polls
    ]
    return pack([seq, rows])


def load_polls(data: bytes | None, settings: InteractionSettings) -> PollBox:
    box = PollBox(settings.max_polls)
    if data is not None:
        seq, rows = unpack(data)
        polls = [
            Poll(
                pid,
                q,
                tuple(opts),
                at,
                PollState(state),
                {MemberId(m): o for m, o in votes.items()},
            )
            for pid, q, opts, at, state, votes in rows
        ]
        box.restore(seq, polls)
    return box


# --- the shop: products and the hosts' journal -----------------------------------------


class Shop:
    """A room session's product shelf and hosts' journal, saved together (a purchase
    changes both at once)."""

    def __init__(self) -> None:
        self.shelf = ProductShelf()
        self.journal = SessionJournal()


def _product(p: Product | None) -> list[str | None] | None:
    return None if p is None else [p.product_id, p.title, p.price, p.link, p.image]


def dump_shop(shop: Shop) -> bytes:
    stats = [
        [pid, sorted(s.clickers), s.clicks, s.purchases] for pid, s in shop.shelf.snapshot().items()
    ]
    journal = shop.journal.to_json()
    counts = [shop.journal.purchase_count, shop.journal.tier_change_count]
    return pack(
        [_product(shop.shelf.pinned), stats, journal["purchases"], journal["tier_changes"], counts]
    )


def load_shop(data: bytes | None) -> Shop:
    shop = Shop()
    if data is not None:
        pinned, stats, purchases, tier_changes, counts = unpack(data)
        shop.shelf.restore(
            None if pinned is None else Product(*pinned),
            {
                pid: ProductStats({MemberId(m) for m in clickers}, clicks, bought)
                for pid, clickers, clicks, bought in stats
            },
        )
        shop.journal.restore(purchases, tier_changes, counts)
    return shop
