"""The in-memory room state: ``SessionState`` kept in this process (one node, no failover).

It wraps the pure rules (``ChatLog``, ``QaBoard``, ``PollBox``, ``ProductShelf``,
``SessionJournal``), a table of places, one of stage roles and one of who left with
something to resume. No method suspends, so each one is atomic on the event loop,
exactly as the synchronous rules were.
"""

from __future__ import annotations

import secrets
from typing import Any

from server.ids import MemberId
from server.rooms.chat import Author, ChatLog, ChatMessage
from server.rooms.errors import InvalidState
from server.rooms.journal import SessionJournal
from server.rooms.model import Role
from server.rooms.polls import Poll, PollBox
from server.rooms.products import Product, ProductShelf, ProductStats
from server.rooms.qa import QaBoard, Question
from server.rooms.resume import Away
from server.rooms.room_state import SessionIdentity
from server.settings import InteractionSettings


def new_session_id(started_ms: int) -> str:
    """A room session id: its start time, then random hex (unique across nodes)."""
    return f"s{started_ms:x}{secrets.token_hex(3)}"


class MemorySessionState(SessionIdentity):
    """Implements ``server.rooms.room_state.SessionState``."""

    def __init__(self, room_id: str, settings: InteractionSettings, started_ms: int) -> None:
        super().__init__(new_session_id(started_ms), started_ms)
        self.room_id = room_id
        self._places: set[MemberId] = set()
        self._roles: dict[MemberId, Role] = {}
        self._away: dict[MemberId, Away] = {}
        self._chat = ChatLog(settings.chat_history, settings.chat_max_length)
        self._qa = QaBoard(settings.max_questions, settings.question_max_length)
        self._polls = PollBox(settings.max_polls)
        self._shelf = ProductShelf()
        self._journal = SessionJournal()

    async def close(self) -> None:
        self._closed = True
        self._places.clear()

    def _open(self, action: str) -> None:
        if self._closed:
            raise InvalidState("session_closed", "closed", session=self._session_id, done=action)

    # --- capacity ----------------------------------------------------------------------

    async def claim_place(self, member_id: MemberId, capacity: int) -> bool:
        self._open("joined")
        if member_id in self._places:
            return True
        if len(self._places) >= capacity:
            return False
        self._places.add(member_id)
        return True

    async def release_place(self, member_id: MemberId) -> None:
        self._places.discard(member_id)

    async def places_taken(self) -> int:
        return len(self._places)

    async def places(self) -> set[MemberId]:
        return set(self._places)

    # --- stage roles -------------------------------------------------------------------

    async def set_stage_role(self, member_id: MemberId, role: Role) -> None:
        if role is Role.MEMBER or role is Role.HOST:
            self._roles.pop(member_id, None)
        else:
            self._roles[member_id] = role

    async def stage_roles(self) -> dict[MemberId, Role]:
        return dict(self._roles)

    async def went_away(self, member_id: MemberId, away: Away) -> None:
        self._away[member_id] = away

    async def came_back(self, member_id: MemberId) -> Away | None:
        return self._away.pop(member_id, None)

    # --- chat --------------------------------------------------------------------------

    async def post_chat(self, author: Author, text: str, at_ms: int) -> ChatMessage:
        return self._chat.post(author, text, at_ms)

    async def delete_chat(self, message_id: str) -> ChatMessage:
        return self._chat.delete(message_id)

    async def chat_history(self) -> list[ChatMessage]:
        return self._chat.history()

    # --- Q&A ---------------------------------------------------------------------------

    async def ask(self, author: Author, text: str, at_ms: int) -> Question:
        return self._qa.ask(author, text, at_ms)

    async def upvote(self, question_id: str, member: MemberId) -> Question:
        return self._qa.upvote(question_id, member)

    async def unvote(self, question_id: str, member: MemberId) -> Question:
        return self._qa.unvote(question_id, member)

    async def answer(self, question_id: str) -> Question:
        return self._qa.answer(question_id)

    async def pin_question(self, question_id: str) -> list[Question]:
        return self._qa.pin(question_id)

    async def unpin_question(self, question_id: str) -> Question:
        return self._qa.unpin(question_id)

    async def dismiss(self, question_id: str) -> Question:
        return self._qa.dismiss(question_id)

    async def questions(self) -> list[Question]:
        return self._qa.ordered()

    # --- polls -------------------------------------------------------------------------

    async def create_poll(self, question: str, options: tuple[str, ...], at_ms: int) -> Poll:
        return self._polls.create(question, options, at_ms)

    async def vote(self, poll_id: str, member: MemberId, option: int) -> tuple[Poll, int | None]:
        return self._polls.vote(poll_id, member, option)

    async def close_poll(self, poll_id: str) -> Poll:
        return self._polls.close(poll_id)

    async def poll(self, poll_id: str) -> Poll | None:
        return self._polls.get(poll_id)

    async def polls(self) -> list[Poll]:
        return self._polls.all()

    # --- products and the hosts' journal -------------------------------------------------

    async def pin_product(self, product: Product) -> Product | None:
        return self._shelf.pin(product)

    async def unpin_product(self) -> Product:
        return self._shelf.unpin()

    async def pinned_product(self) -> Product | None:
        return self._shelf.pinned

    async def click_product(self, product_id: str, member: MemberId) -> ProductStats:
        return self._shelf.click(product_id, member)

    async def purchased(self, product_id: str, entry: dict[str, Any]) -> ProductStats:
        stats = self._shelf.purchased(product_id)
        self._journal.purchase(entry)
        return stats

    async def tier_changed(self, entry: dict[str, Any]) -> None:
        self._journal.tier_change(entry)

    async def product_stats(self, product_id: str) -> ProductStats | None:
        return self._shelf.stats(product_id)

    async def summary(self) -> dict[str, Any]:
        summary = self._journal.to_json()
        summary["products"] = self._shelf.all_stats()
        return summary


class MemorySessionStates:
    """Implements ``server.rooms.room_state.SessionStates`` for one node."""

    def __init__(self, settings: InteractionSettings) -> None:
        self._settings = settings

    async def open(self, room_id: str, started_ms: int) -> MemorySessionState:
        return MemorySessionState(room_id, self._settings, started_ms)
