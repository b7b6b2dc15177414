"""The room state interface: what one room session keeps, behind async, atomic methods.

A room session runs from the room's open (its first join) to its close (it empties or the
server stops). Its state is the chat history, questions and their votes, polls and their
votes, the pinned product with its clicks and purchases, the hosts' journal, the places
taken (capacity) and the roles the stage gave. ``MemorySessionState``
(``server/rooms/room_state_memory.py``) keeps it in this process; a Redis implementation
(issue 11) keeps it where every node sees it.

Rules for implementations, so that the Redis one is a drop-in:
- every method is ``async`` (the memory one never suspends, so a handler that awaits it
  still changes state in one step, as today);
- each atomic rule is one method: one vote per member (``upvote``/``vote``), one open poll
  (``create_poll``), the history and question caps (``post_chat``/``ask``), the capacity
  (``claim_place``). A Redis version makes each one script or transaction in the room's slot;
- refusals are ``RoomError``s with codes (``server/rooms/errors.py``), raised before anything
  changes;
- values returned are the plain domain dataclasses of ``chat``, ``qa``, ``polls`` and
  ``products``; callers treat them as read-only snapshots;
- no callbacks: broadcasts go through the room's ``RoomBus`` (``server/rooms/bus.py``).
"""

from __future__ import annotations

from typing import Any, Protocol

from server.ids import MemberId
from server.rooms.chat import Author, ChatMessage
from server.rooms.model import Role
from server.rooms.polls import Poll
from server.rooms.products import Product, ProductStats
from server.rooms.qa import Question
from server.rooms.resume import Away


class SessionState(Protocol):
    """One room session's shared state (see the module docstring for the rules)."""

    @property
    def session_id(self) -> str:
        """Unique per room session; events carry it next to the room id."""
        ...

    @property
    def started_ms(self) -> int: ...

    @property
    def closed(self) -> bool:
        """True once ``close`` ran: the session is over, its state read-only."""
        ...

    async def close(self) -> None:
        """End the session (the room closed); later sessions of the room start afresh."""
        ...

    # --- capacity ----------------------------------------------------------------------

    async def claim_place(self, member_id: MemberId, capacity: int) -> bool:
        """Take a place for ``member_id`` unless ``capacity`` places are taken; a member
        who holds one already keeps it (a second connection takes no second place)."""
        ...

    async def release_place(self, member_id: MemberId) -> None: ...

    async def places_taken(self) -> int: ...

    async def places(self) -> set[MemberId]:
        """The members holding a place (in the room, or their page coming back): a node
        taking the session over learns from it whose pages were on the dead owner."""
        ...

    # --- stage roles -------------------------------------------------------------------

    async def set_stage_role(self, member_id: MemberId, role: Role) -> None:
        """Keep the role the stage gave ``member_id`` (speaker, co-host; member clears
        it), so that a node taking the room over (issue 11) can give it back."""
        ...

    async def stage_roles(self) -> dict[MemberId, Role]:
        """Members with a stage role in this session (not plain members, not hosts)."""
        ...

    async def went_away(self, member_id: MemberId, away: Away) -> None:
        """Keep what ``member_id`` may get back if their page resumes (issue 11)."""
        ...

    async def came_back(self, member_id: MemberId) -> Away | None:
        """Take (read and clear) what ``went_away`` kept for ``member_id``."""
        ...

    # --- chat --------------------------------------------------------------------------

    async def post_chat(self, author: Author, text: str, at_ms: int) -> ChatMessage: ...

    async def delete_chat(self, message_id: str) -> ChatMessage: ...

    async def chat_history(self) -> list[ChatMessage]: ...

    # --- Q&A ---------------------------------------------------------------------------

    async def ask(self, author: Author, text: str, at_ms: int) -> Question: ...

    async def upvote(self, question_id: str, member: MemberId) -> Question:
        """One vote per member and question (a second upvote changes nothing)."""
        ...

    async def unvote(self, question_id: str, member: MemberId) -> Question: ...

    async def answer(self, question_id: str) -> Question: ...

    async def pin_question(self, question_id: str) -> list[Question]:
        """Pin one question (one at a time): the questions that changed."""
        ...

    async def unpin_question(self, question_id: str) -> Question: ...

    async def dismiss(self, question_id: str) -> Question: ...

    async def questions(self) -> list[Question]:
        """Open questions first, then by votes, as the page lists them."""
        ...

    # --- polls -------------------------------------------------------------------------

    async def create_poll(self, question: str, options: tuple[str, ...], at_ms: int) -> Poll:
        """Open a poll; refused while another is open."""
        ...

    async def vote(self, poll_id: str, member: MemberId, option: int) -> tuple[Poll, int | None]:
        """Record or change ``member``'s one vote: the poll and the previous option."""
        ...

    async def close_poll(self, poll_id: str) -> Poll: ...

    async def poll(self, poll_id: str) -> Poll | None: ...

    async def polls(self) -> list[Poll]:
        """Polls oldest first (the newest ``max_polls``)."""
        ...

    # --- products and the hosts' journal -------------------------------------------------

    async def pin_product(self, product: Product) -> Product | None:
        """Pin ``product``: the product it replaced, if any."""
        ...

    async def unpin_product(self) -> Product: ...

    async def pinned_product(self) -> Product | None: ...

    async def click_product(self, product_id: str, member: MemberId) -> ProductStats: ...

    async def purchased(self, product_id: str, entry: dict[str, Any]) -> ProductStats:
        """Count a purchase credited to this session and keep ``entry`` in the journal."""
        ...

    async def tier_changed(self, entry: dict[str, Any]) -> None:
        """Keep a tier change of someone in the room in the journal."""
        ...

    async def product_stats(self, product_id: str) -> ProductStats | None: ...

    async def summary(self) -> dict[str, Any]:
        """What a reloaded host console shows again: the journal and every product's figures."""
        ...


class SessionIdentity:
    """What every implementation keeps alike: the session's id, its start, and whether
    ``close`` ran (``_closed``, set by the implementation's ``close``)."""

    def __init__(self, session_id: str, started_ms: int) -> None:
        self._session_id = session_id
        self._started_ms = started_ms
        self._closed = False

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def started_ms(self) -> int:
        return self._started_ms

    @property
    def closed(self) -> bool:
        return self._closed


class SessionStates(Protocol):
    """Opens the state of a new room session (one per room open)."""

    async def open(self, room_id: str, started_ms: int) -> SessionState:
        """The session of ``room_id`` that opens now: a fresh one, or (Redis) the one still
        live in the store, same id and state (its owner node died: failover)."""
        ...
