"""What members and advisors do with consultations: request, see, accept, decline; and
the purchases credited to one. Used by the REST edge (``server/http/consult.py``).

Who is who comes from the signed room tokens the pages already hold: a member's token
for any room (the room they ask from; the hook page's token names the session's room),
an advisor's host token for any room. Accepting creates the private room
(``RoomKind.CONSULT``: invites are exactly the two member ids) and mints both entry
tokens; their links go to the two pages and the ``consultation.accepted`` webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError

from server.consult.model import (
    Consultation,
    ConsultError,
    Status,
    new_consult_id,
)
from server.consult.store import ConsultStore
from server.engagement.events import EventKind, new_event, now_ms
from server.engagement.members import MemberStore, Tier
from server.engagement.recorder import EventRecorder
from server.ids import MemberId, RoomId, is_valid_id
from server.rooms.errors import RoomError
from server.rooms.model import Role, RoomKind, RoomSpec
from server.rooms.store import RoomStore
from server.rooms.tokens import TokenClaims, mint_token, peek_room, verify_token
from server.settings import Settings
from server.text import TextError, clean_text

logger = logging.getLogger(__name__)

MAX_TOKEN = 4096
Publish = Callable[[str, dict[str, Any]], object]


def room_link(room_id: str, token: str) -> str:
    """The room page's address for ``token`` (relative: the page is on this server)."""
    return f"/rooms/{quote(room_id)}?token={quote(token, safe='')}"


class ConsultService:
    def __init__(
        self,
        settings: Settings,
        store: ConsultStore,
        rooms: RoomStore,
        members: MemberStore,
        recorder: EventRecorder,
        publish: Publish,
        session_of: Callable[[RoomId], str | None] = lambda room: None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._rooms = rooms
        self._members = members
        self._recorder = recorder
        self._publish = publish
        # The live session of a room on this node (the session a request came from).
        self._session_of = session_of

    @property
    def store(self) -> ConsultStore:
        return self._store

    def claims(self, token: Any) -> TokenClaims:
        """The verified claims of a page's room token, or ``ConsultError('bad_token')``."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise ConsultError("bad_token")
        room = peek_room(token)
        if room is None:
            raise ConsultError("bad_token")
        auth = self._settings.auth
        try:
            return verify_token(auth.secret, token, room, auth.issuer)
        except RoomError:
            raise ConsultError("bad_token") from None

    def _host(self, token: Any) -> TokenClaims:
        claims = self.claims(token)
        if claims.role is not Role.HOST:
            raise ConsultError("not_host")
        return claims

    def _note(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        try:
            return clean_text(value, "note", self._settings.consult.note_max, multiline=True)
        except TextError as exc:
            raise ConsultError("bad_note", sentence=exc.sentence(), reason=exc.code) from None

    def _record(self, kind: EventKind, record: Consultation, room: str, **data: Any) -> None:
        self._recorder.record(
            new_event(kind, room, record.member_id, consultation=record.id, **data)
        )

    async def request(self, token: Any, note: Any, session: Any = None) -> Consultation:
        """A member asks for a consultation from the room (or hook session) of ``token``."""
        claims = self.claims(token)
        if claims.role is not Role.MEMBER:
            raise ConsultError("not_member")
        text = self._note(note)
        if session not in (None, "") and not is_valid_id(session):
            raise ConsultError("bad_id", field="session")
        member = await self._members.get(claims.member_id)
        tiers = self._settings.consult.tiers
        if member is None or member.tier.value not in tiers:
            raise ConsultError("tier_too_low", tiers=list(tiers))
        origin = claims.room_id
        record = Consultation(
            id=new_consult_id(),
            member_id=claims.member_id,
            member_name=member.name,
            origin_room=origin,
            origin_session=str(session or self._session_of(origin) or ""),
            note=text,
            requested_ms=now_ms(),
        )
        await self._store.create(record)
        self._record(
            EventKind.CONSULTATION_REQUESTED,
            record,
            origin,
            origin=origin,
            session=record.origin_session,
            note_chars=len(text),
        )
        self._publish("consultation.requested", self._hook_data(record, tier=member.tier.value))
        logger.info("consultation %s requested by %s from %s", record.id, record.member_id, origin)
        return record

    @staticmethod
    def _hook_data(record: Consultation, **extra: Any) -> dict[str, Any]:
        return {
            "consultation": record.id,
            "member_id": record.member_id,
            "name": record.member_name,
            "room_id": record.origin_room,
            "session": record.origin_session,
            "note": record.note,
            **extra,
        }

    async def inbox(self, token: Any) -> list[Consultation]:
        """Pending requests, newest first (advisors only)."""
        self._host(token)
        return await self._store.pending()

    async def answer(self, token: Any, consult_id: Any, accept: bool) -> tuple[Consultation, str]:
        """An advisor accepts (the private room opens; the answer carries the advisor's
        link) or declines (the link is empty)."""
        claims = self._host(token)
        if not is_valid_id(consult_id):
            raise ConsultError("bad_id", field="id")
        record = await self._store.need(str(consult_id))
        now = now_ms()
        moved = record.moved("accept" if accept else "decline", now)
        if not accept:
            declined = replace(moved, decided_ms=now, advisor_id=claims.member_id)
            await self._store.move(record, declined)
            return declined, ""
        advisor = await self._members.get(claims.member_id)
        advisor_name = advisor.name if advisor else claims.member_id
        moved = replace(
            moved, decided_ms=now, advisor_id=claims.member_id, advisor_name=advisor_name
        )
        spec = RoomSpec(
            room_id=moved.room_id,
            title=f"{moved.member_name} · {advisor_name}",
            tiers=(Tier.CORE,),
            capacity=2,
            invites=frozenset({moved.member_id, claims.member_id}),
            speaker_cap=1,
            speaker_cameras=True,
            kind=RoomKind.CONSULT,
        )
        await self._rooms.save(spec)
        await self._store.move(record, moved)
        member_link, advisor_link = self.links(moved)
        self._publish(
            "consultation.accepted",
            self._hook_data(
                moved,
                advisor_id=moved.advisor_id,
                advisor_name=advisor_name,
                consult_room=moved.room_id,
                member_link=member_link,
            ),
        )
        logger.info("consultation %s accepted by %s", moved.id, moved.advisor_id)
        return moved, advisor_link

    def links(self, record: Consultation) -> tuple[str, str]:
        """The member's and the advisor's links to the private room."""
        auth = self._settings.auth
        ttl = round(self._settings.consult.token_hours * 3600)
        room = record.room_id
        member = mint_token(auth.secret, record.member_id, room, Role.MEMBER, ttl, auth.issuer)
        advisor = mint_token(
            auth.secret, MemberId(record.advisor_id), room, Role.HOST, ttl, auth.issuer
        )
        return room_link(room, member), room_link(room, advisor)

    async def view(self, token: Any, consult_id: Any) -> tuple[Consultation, str]:
        """A consultation as its member (or its advisor) sees it, with their link once it
        was accepted and until it ended."""
        claims = self.claims(token)
        if not is_valid_id(consult_id):
            raise ConsultError("bad_id", field="id")
        record = await self._store.need(str(consult_id))
        if claims.member_id not in (record.member_id, record.advisor_id):
            raise ConsultError("not_yours")
        if record.status is not Status.ACCEPTED:
            return record, ""
        member_link, advisor_link = self.links(record)
        return record, member_link if claims.member_id == record.member_id else advisor_link

    async def recent(self, limit: int = 100) -> list[Consultation]:
        """The latest consultations with the orders credited to each (operators)."""
        return await self._store.with_orders(await self._store.recent(limit))

    async def purchase_reported(self, purchase: dict[str, Any]) -> dict[str, Any]:
        """Credit a reported purchase to the member's consultation when it happens during
        one (started, not ended) or within ``consult.attribution_hours`` after it ended."""
        try:
            return await self._credit(purchase)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("purchase %s: no consultation credit (%s)", purchase["order_id"], exc)
            return {}

    async def _credit(self, purchase: dict[str, Any]) -> dict[str, Any]:
        member = str(purchase["member_id"])
        record = await self._store.open_of(member)
        when = "during"
        if record is None or record.status is not Status.ACCEPTED or not record.started_ms:
            last = await self._store.last_of(member)
            record = await self._store.get(last) if last else None
            window_ms = self._settings.consult.attribution_hours * 3600 * 1000
            if record is None or not record.ended_ms or now_ms() - record.ended_ms > window_ms:
                return {}
            when = "after"
        if await self._store.add_order(record.id, str(purchase["order_id"])):
            self._record(
                EventKind.CONSULTATION_PURCHASE,
                record,
                record.room_id,
                order_id=purchase["order_id"],
                amount=purchase["amount"],
                currency=purchase["currency"],
                when=when,
            )
        return {"consultation": record.id}
