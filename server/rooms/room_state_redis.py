"""The Redis room state: ``SessionState`` kept in Redis, where every node sees it.

Every key of a room's session carries the room's hash tag, so that they share one slot
(one Redis Cluster node) and one script or transaction may touch them all:

- ``salon:{room:ID}:session`` — the live session: its id, start and whether it closed;
- ``salon:{room:ID}:session:SID:places`` (set), ``…:roles`` (hash member -> role),
  ``…:away`` (hash member -> what a leaver may resume: msgpack ``[at_ms, live, muted]``),
  ``…:chat:seq`` / ``…:chat:ids`` (list, capped) / ``…:chat:msgs`` (hash id -> body);
- ``…:qa``, ``…:polls``, ``…:shop`` — the question board, the poll box, the product shelf
  with the hosts' journal, each one saved value (``room_state_saved.SavedValue``).

Places, chat and the session's life are Lua scripts (``room_state_lua``); the questions,
polls and shop rules run in Python on the saved value and are written back by one
compare-and-swap script. Closing a session lets its keys expire (``ttl``, a day by
default); opening a room whose session is still live in Redis (the node that owned it
died) returns that session, with its id and state.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, TypeVar

import msgpack

from server.ids import MemberId
from server.redis_client import RedisClient
from server.rooms import room_state_codec as codec
from server.rooms import room_state_lua as lua
from server.rooms.chat import RETAIN_MIN, Author, ChatMessage, clean_text
from server.rooms.errors import InvalidState, ItemNotFound, StoreUnavailable
from server.rooms.model import Role
from server.rooms.polls import Poll, PollBox
from server.rooms.products import Product, ProductStats
from server.rooms.qa import QaBoard, Question
from server.rooms.resume import Away
from server.rooms.room_state import SessionIdentity
from server.rooms.room_state_memory import new_session_id
from server.rooms.room_state_saved import SavedValue, from_redis, text
from server.settings import InteractionSettings

# Seconds a closed session's keys are kept (for a late look, then Redis drops them).
CLOSED_TTL: Final = 24 * 3600

# Session ids a node remembers having closed (see ``RedisSessionStates.closing``).
KEEP_CLOSED: Final = 1000

R = TypeVar("R")


def session_key(room_id: str) -> str:
    return f"salon:{{room:{room_id}}}:session"


class RedisSessionState(SessionIdentity):
    """Implements ``server.rooms.room_state.SessionState`` on Redis (see the module)."""

    def __init__(
        self,
        states: RedisSessionStates,
        room_id: str,
        session_id: str,
        started_ms: int,
    ) -> None:
        super().__init__(session_id, started_ms)
        self.room_id = room_id
        self._states = states
        self._redis = states.redis
        self._settings = settings = states.settings
        self._meta = session_key(room_id)
        prefix = f"{self._meta}:{session_id}"
        self._places = f"{prefix}:places"
        self._roles = f"{prefix}:roles"
        self._away = f"{prefix}:away"
        self._chat = [f"{prefix}:chat:seq", f"{prefix}:chat:ids", f"{prefix}:chat:msgs"]
        swap = states.scripts["swap"]
        self._qa = SavedValue[QaBoard](
            self._redis, swap, f"{prefix}:qa", lambda b: codec.load_qa(b, settings), codec.dump_qa
        )
        self._polls = SavedValue[PollBox](
            self._redis,
            swap,
            f"{prefix}:polls",
            lambda b: codec.load_polls(b, settings),
            codec.dump_polls,
        )
        self._shop = SavedValue[codec.Shop](
            self._redis, swap, f"{prefix}:shop", codec.load_shop, codec.dump_shop
        )

    async def _script(self, name: str, keys: list[str], *args: Any) -> Any:
        return await from_redis(self._states.scripts[name](keys=keys, args=list(args)))

    async def close(self) -> None:
        self._closed = True
        closed = self._states.closing(self._session_id)
        keys = [self._meta, self._places, self._roles, self._away, *self._chat]
        keys += [self._qa.key, self._polls.key, self._shop.key]
        try:
            await self._script("close", keys, self._session_id, self._states.ttl)
        except StoreUnavailable:
            pass  # logged; the room closes anyway, and this node opens it afresh
        finally:
            closed.set()

    # --- capacity ----------------------------------------------------------------------

    async def claim_place(self, member_id: MemberId, capacity: int) -> bool:
        got = await self._script(
            "claim", [self._meta, self._places], self._session_id, member_id, capacity
        )
        if got < 0:
            raise InvalidState("session_closed", "closed", session=self._session_id, done="joined")
        return bool(got)

    async def release_place(self, member_id: MemberId) -> None:
        await from_redis(self._redis.srem(self._places, member_id))

    async def places_taken(self) -> int:
        return int(await from_redis(self._redis.scard(self._places)))

    async def places(self) -> set[MemberId]:
        raw = await from_redis(self._redis.smembers(self._places))
        return {MemberId(m.decode() if isinstance(m, bytes) else str(m)) for m in raw}

    # --- stage roles -------------------------------------------------------------------

    async def set_stage_role(self, member_id: MemberId, role: Role) -> None:
        if role is Role.MEMBER or role is Role.HOST:
            await from_redis(self._redis.hdel(self._roles, member_id))
        else:
            await from_redis(self._redis.hset(self._roles, member_id, role.value))

    async def stage_roles(self) -> dict[MemberId, Role]:
        saved = await from_redis(self._redis.hgetall(self._roles))
        return {MemberId(text(m)): Role(text(r)) for m, r in saved.items()}

    # --- what a leaver may resume ------------------------------------------------------

    async def went_away(self, member_id: MemberId, away: Away) -> None:
        packed = msgpack.packb([away.at_ms, away.live, away.muted])
        await from_redis(self._redis.hset(self._away, member_id, packed))

    async def came_back(self, member_id: MemberId) -> Away | None:
        packed = await self._script("take", [self._away], member_id)
        if packed is None:
            return None
        at_ms, live, muted = msgpack.unpackb(packed)
        return Away(at_ms=int(at_ms), live=bool(live), muted=bool(muted))

    # --- chat --------------------------------------------------------------------------

    async def post_chat(self, author: Author, text: str, at_ms: int) -> ChatMessage:
        clean = clean_text(text, "message", self._settings.chat_max_length)
        body = codec.chat_body(author, clean, at_ms)
        retain = max(self._settings.chat_history, RETAIN_MIN)
        seq = await self._script("chat_post", self._chat, body, retain)
        return ChatMessage(f"c{seq}", author, clean, at_ms)

    async def delete_chat(self, message_id: str) -> ChatMessage:
        body = await self._script("chat_delete", self._chat[1:], message_id)
        if body is None:
            raise ItemNotFound("chat_message", message_id)
        return codec.chat_message(message_id, body)

    async def chat_history(self) -> list[ChatMessage]:
        flat = await self._script("chat_history", self._chat[1:], self._settings.chat_history)
        return [codec.chat_message(text(i), b) for i, b in zip(flat[::2], flat[1::2], strict=True)]

    # --- Q&A ---------------------------------------------------------------------------

    async def ask(self, author: Author, text: str, at_ms: int) -> Question:
        return await self._qa.change(lambda qa: qa.ask(author, text, at_ms))

    async def upvote(self, question_id: str, member: MemberId) -> Question:
        return await self._qa.change(lambda qa: qa.upvote(question_id, member))

    async def unvote(self, question_id: str, member: MemberId) -> Question:
        return await self._qa.change(lambda qa: qa.unvote(question_id, member))

    async def answer(self, question_id: str) -> Question:
        return await self._qa.change(lambda qa: qa.answer(question_id))

    async def pin_question(self, question_id: str) -> list[Question]:
        return await self._qa.change(lambda qa: qa.pin(question_id))

    async def unpin_question(self, question_id: str) -> Question:
        return await self._qa.change(lambda qa: qa.unpin(question_id))

    async def dismiss(self, question_id: str) -> Question:
        return await self._qa.change(lambda qa: qa.dismiss(question_id))

    async def questions(self) -> list[Question]:
        return (await self._qa.read()).ordered()

    # --- polls -------------------------------------------------------------------------

    async def create_poll(self, question: str, options: tuple[str, ...], at_ms: int) -> Poll:
        return await self._polls.change(lambda box: box.create(question, options, at_ms))

    async def vote(self, poll_id: str, member: MemberId, option: int) -> tuple[Poll, int | None]:
        return await self._polls.change(lambda box: box.vote(poll_id, member, option))

    async def close_poll(self, poll_id: str) -> Poll:
        return await self._polls.change(lambda box: box.close(poll_id))

    async def poll(self, poll_id: str) -> Poll | None:
        return (await self._polls.read()).get(poll_id)

    async def polls(self) -> list[Poll]:
        return (await self._polls.read()).all()

    # --- products and the hosts' journal -------------------------------------------------

    async def _in_shop(self, rule: Callable[[codec.Shop], R]) -> R:
        return await self._shop.change(rule)

    async def pin_product(self, product: Product) -> Product | None:
        return await self._in_shop(lambda shop: shop.shelf.pin(product))

    async def unpin_product(self) -> Product:
        return await self._in_shop(lambda shop: shop.shelf.unpin())

    async def pinned_product(self) -> Product | None:
        return (await self._shop.read()).shelf.pinned

    async def click_product(self, product_id: str, member: MemberId) -> ProductStats:
        return await self._in_shop(lambda shop: shop.shelf.click(product_id, member))

    async def purchased(self, product_id: str, entry: dict[str, Any]) -> ProductStats:
        def rule(shop: codec.Shop) -> ProductStats:
            stats = shop.shelf.purchased(product_id)
            shop.journal.purchase(entry)
            return stats

        return await self._in_shop(rule)

    async def tier_changed(self, entry: dict[str, Any]) -> None:
        await self._in_shop(lambda shop: shop.journal.tier_change(entry))

    async def product_stats(self, product_id: str) -> ProductStats | None:
        return (await self._shop.read()).shelf.stats(product_id)

    async def summary(self) -> dict[str, Any]:
        shop = await self._shop.read()
        summary = shop.journal.to_json()
        summary["products"] = shop.shelf.all_stats()
        return summary


class RedisSessionStates:
    """Implements ``server.rooms.room_state.SessionStates`` on Redis: opens a room's live
    session if Redis holds one (failover), else a new one."""

    def __init__(
        self, redis: RedisClient, settings: InteractionSettings, ttl: int = CLOSED_TTL
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.ttl = ttl
        # Sessions this node closes or closed (newest kept): an open that races a close
        # waits for it, then opens afresh instead of taking the session that ends.
        self._closed: OrderedDict[str, asyncio.Event] = OrderedDict()
        self.scripts = {
            "open": redis.register_script(lua.OPEN),
            "close": redis.register_script(lua.CLOSE),
            "claim": redis.register_script(lua.CLAIM),
            "chat_post": redis.register_script(lua.CHAT_POST),
            "chat_delete": redis.register_script(lua.CHAT_DELETE),
            "chat_history": redis.register_script(lua.CHAT_HISTORY),
            "swap": redis.register_script(lua.SWAP),
            "take": redis.register_script(lua.TAKE),
        }

    def closing(self, session_id: str) -> asyncio.Event:
        """Note that this node closes ``session_id``: the event is set once it is closed."""
        event = self._closed[session_id] = asyncio.Event()
        while len(self._closed) > KEEP_CLOSED:
            self._closed.popitem(last=False)
        return event

    async def open(self, room_id: str, started_ms: int) -> RedisSessionState:
        fresh, ended = new_session_id(started_ms), ""
        while True:
            sid, started = await from_redis(
                self.scripts["open"](keys=[session_key(room_id)], args=[fresh, started_ms, ended])
            )
            closing = self._closed.get(text(sid))
            if closing is None:
                return RedisSessionState(self, room_id, text(sid), int(started))
            # The room closed here a moment ago: once that is done, open a new session
            # (even if the close could not be written).
            await closing.wait()
            ended = text(sid)
