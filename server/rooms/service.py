"""The rooms this node runs, and the one door into them: ``RoomService.join``.

A join verifies the token, reads the room and the member from Redis (bounded by a
timeout: a slow or missing Redis refuses, it never admits), applies the policy, and only
then changes state, without awaiting in between (the room state's ``claim_place`` is the
one atomic step). Join and leave are recorded as events, with the room's session id.

A room opens at its first join, with a new session from ``SessionStates``, and closes when
it empties (or the server stops): its session ends then.

In cluster mode (``ownership`` set, docs/cluster.md) opening a room takes its lease, closing
releases it, and a room whose lease is lost or handed over leaves this node without ending
its session: its pages are told to reconnect (``room_moved``) and the new owner reopens it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, TypeVar

from redis.exceptions import RedisError

from server import outbound as out
from server.cluster.leases import LeaseHeld
from server.cluster.ownership import Ownership
from server.engagement.events import EventKind, new_event, now_ms
from server.engagement.members import Member, MemberStore
from server.engagement.recorder import EventRecorder
from server.ids import MemberId, ParticipantId, RoomId
from server.rooms.bans import BanStore
from server.rooms.bus import RoomBus
from server.rooms.errors import (
    Banned,
    RemovedThisSession,
    RoomError,
    RoomFull,
    RoomMoved,
    RoomNotFound,
    StoreUnavailable,
    UnknownMember,
    WrongRoom,
)
from server.rooms.lost_pages import REASON as LOST_REASON
from server.rooms.lost_pages import LostLeave, LostPages, leave_event_id
from server.rooms.media import IcePolicy, MediaCounters, RoomMedia
from server.rooms.model import Participant, Role, RoomKind, RoomSpec
from server.rooms.policy import check_entry
from server.rooms.presence import PresenceRules
from server.rooms.resume import (
    Away,
    ResumeCode,
    Resumed,
    decide,
    resume_token,
    token_matches,
)
from server.rooms.room import Room, RoomListener
from server.rooms.room_state import SessionState, SessionStates
from server.rooms.stage import ON_STAGE
from server.rooms.store import RoomStore
from server.rooms.tokens import peek_room, verify_token
from server.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


def new_participant_id() -> ParticipantId:
    """A participant id unique across nodes and restarts (no per-process counter)."""
    return ParticipantId(f"p{secrets.token_hex(8)}")


class Admitted(NamedTuple):
    """A join's result: the room, the participant, what became of a resume token (None:
    none was sent) and the resume token for this session (docs/protocol.md)."""

    room: Room
    participant: Participant
    resumed: Resumed | None
    resume_token: str


class RoomService:
    def __init__(
        self,
        settings: Settings,
        rooms: RoomStore,
        members: MemberStore,
        recorder: EventRecorder,
        ice: IcePolicy,
        states: SessionStates,
        bus: RoomBus,
        bans: BanStore | None = None,
    ) -> None:
        self._settings = settings
        self._bans = bans
        self._states = states
        self._bus = bus
        # Called (synchronously) after a page resumed its stage role (it is seated and in
        # the room): ``announce_resume``.
        self.resume_hooks: list[Callable[[Room, Participant], None]] = []
        # Called (synchronously) after anyone leaves a live room, however they leave.
        self.leave_hooks: list[Callable[[Room, Participant], None]] = []
        # Called (synchronously) with every event recorded here: (kind, room, member, data).
        self.record_hooks: list[Callable[[EventKind, Room, MemberId, dict[str, Any]], None]] = []
        # Called (synchronously) when a room's host starts or stops publishing.
        self.live_hooks: list[Callable[[Room, bool, ParticipantId | None], None]] = []
        # Awaited when a room closes on this node, before the room and its media close:
        # its session ends, or (``room.handed_over``) it moves on to another node.
        self.close_hooks: list[Callable[[Room], Awaitable[None]]] = []
        self._rooms = rooms
        self._members = members
        self._recorder = recorder
        self.ice = ice
        # Media totals of every room this service ever opened (``/metrics``).
        self.media_counters = MediaCounters()
        self._live: dict[RoomId, Room] = {}
        self._closing: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Cluster mode: the leases of the rooms this node owns (set by the app factory).
        self.ownership: Ownership | None = None
        # Cluster mode: the pages a dead owner held in a session taken over (their leaves
        # are recorded here; set by server/crossnode.py).
        self.lost_pages: LostPages | None = None
        # Cluster mode: joins under way per room (a room they opened and left empty closes).
        self._joining: Counter[RoomId] = Counter()
        # Rooms being opened now (one opening per room).
        self._opening: dict[RoomId, asyncio.Future[Room]] = {}
        # Rooms leaving this node, set once their last page is gone.
        self._leaving: dict[Room, asyncio.Event] = {}

    @property
    def live_rooms(self) -> dict[RoomId, Room]:
        return self._live

    async def _read(self, call: Awaitable[T], refusing: str = "entry") -> T:
        """``call``, bounded by the Redis timeout; ``StoreUnavailable`` if it fails."""
        try:
            return await asyncio.wait_for(call, self._settings.redis.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning(
                "member store unavailable (%s): refusing %s", type(exc).__name__, refusing
            )
            raise StoreUnavailable() from None

    async def member_score(self, member_id: MemberId) -> float | None:
        """``member_id``'s engagement score, or None when unknown or unreadable now (a
        raised hand goes up anyway; the host sees no score)."""
        try:
            member = await self._read(self._members.get(member_id), "a hand's score")
        except StoreUnavailable:
            return None
        return member.score if member is not None else None

    async def join(
        self,
        token: str,
        room_hint: str | None,
        listener: RoomListener,
        resume: str | None = None,
    ) -> Admitted:
        """Admit the token's holder to its room, or raise the refusal (changing nothing).

        With ``resume`` (the resume token of an earlier ``joined``), a page coming back
        within the grace period gets its stage role or live feed back (server/rooms/resume.py);
        a bad token only means nothing is given back."""
        if self.ownership is None:
            return await self._join(token, room_hint, listener, resume)
        # Cluster mode opens the room before the last checks: a refused join must not
        # leave it open (and its lease held) with nobody in it.
        room_id = RoomId(room_hint) if room_hint else peek_room(token)
        if room_id is None:
            return await self._join(token, room_hint, listener, resume)
        self._joining[room_id] += 1
        refused = False
        try:
            return await self._join(token, room_hint, listener, resume)
        except BaseException:
            refused = True
            raise
        finally:
            self._joining[room_id] -= 1
            if self._joining[room_id] <= 0:
                del self._joining[room_id]
            if refused:
                self._close_if_unused(room_id)

    def _close_if_unused(self, room_id: RoomId) -> None:
        """Close ``room_id`` if it is open here with nobody in it and no join under way
        (its session stays live in Redis: this was no end of it)."""
        room = self._live.get(room_id)
        if room is None or not room.empty or room_id in self._joining:
            return
        del self._live[room_id]
        self.spawn(room, self._close_unused(room), "closing a room nobody entered")

    async def _close_unused(self, room: Room) -> None:
        await room.close(end_session=False)
        await room.media.close()
        if self.ownership is not None:
            await self.ownership.release(room.spec.room_id)

    async def _join(
        self,
        token: str,
        room_hint: str | None,
        listener: RoomListener,
        resume: str | None,
    ) -> Admitted:
        token_room = peek_room(token)
        room_id = RoomId(room_hint) if room_hint else token_room
        auth = self._settings.auth
        claims = verify_token(auth.secret, token, room_id or RoomId(""), auth.issuer)
        if room_hint and claims.room_id != room_hint:  # pragma: no cover - verify checks it
            raise WrongRoom(claims.room_id, room_hint)
        # Room, member, ban list and this session's removals in one concurrent read, before
        # anything changes; if any cannot be read the gate stays shut.
        spec, member, banned, removed = await self._read(
            asyncio.gather(
                self._rooms.get(claims.room_id),
                self._members.get(claims.member_id),
                self._is_banned(claims.room_id, claims.member_id),
                self._is_removed(claims.room_id, claims.member_id),
            )
        )
        if spec is None:
            raise RoomNotFound(claims.room_id)
        if banned:
            raise Banned(spec.title)
        if removed and claims.role is not Role.HOST:
            raise RemovedThisSession(spec.title)
        if member is None and claims.role is not Role.HOST:
            raise UnknownMember(claims.member_id)

        room = self._live.get(spec.room_id)
        if room is None and self.ownership is not None:
            # Cluster mode: own the room first, so that a page coming back to a room taken
            # over here finds its session (and gets its seat back).
            room = await self._open(spec)
            # Its session is known only now: a removal from it holds after a take-over.
            if claims.role is not Role.HOST and await self._read(
                self._is_removed(spec.room_id, claims.member_id)
            ):
                raise RemovedThisSession(spec.title)
        # From here on: no awaits until the participant is in the room.
        previous = room.current_of(claims.member_id) if room else None
        occupants = await room.session.places_taken() if room else 0
        if previous is not None and previous.role is not Role.HOST:
            occupants -= 1  # the new connection takes over the old one's place
        check_entry(spec, member, claims.role, occupants, claims.member_id)
        resumed = None
        if resume is not None:
            resumed = await self._resume_outcome(room, claims.member_id, claims.role, resume)
        if room is None:
            room = await self._open(spec)
        elif room.spec != spec:
            room.spec = spec  # operators may have changed the definition
        if claims.role is not Role.HOST and not await room.session.claim_place(
            claims.member_id, spec.capacity
        ):
            # Another node took the last place since the count above (never in memory).
            raise RoomFull(spec.title, spec.capacity, spec.refusal_link)
        role = resumed.role if resumed is not None else claims.role
        if spec.kind is RoomKind.CONSULT and role is Role.MEMBER:
            role = Role.SPEAKER  # a consultation's member talks from the start
        participant = self._participant(claims.member_id, member, role)
        replaced_listener = None
        if previous is not None:
            replaced_listener = room.listener(previous.participant_id)
            self._remove_now(room, previous, keep_place=True)
        muted = resumed is not None and resumed.muted
        if role in ON_STAGE and not room.stage.reseat(
            participant.participant_id, role, spec.speaker_cap, time.monotonic(), muted
        ):
            participant = dataclasses.replace(participant, role=Role.MEMBER)
            resumed = Resumed(ResumeCode.NO_PLACE, Role.MEMBER)
        elif role in ON_STAGE and muted:
            room.media.set_muted(participant.participant_id, True)  # before it publishes
        room.add(participant, listener)
        if replaced_listener is not None:
            replaced_listener.replaced()
        # What the session keeps is what was given now (a stale role is never given back).
        await room.session.set_stage_role(claims.member_id, participant.role)
        if resumed is None or resumed.code is ResumeCode.INVALID:
            await room.session.came_back(claims.member_id)  # nor a stale live feed
        self.record(EventKind.JOIN, room, claims.member_id, role=claims.role.value)
        logger.info("room %s: %s joined as %s", spec.room_id, claims.member_id, participant.role)
        return Admitted(room, participant, resumed, self._resume_token(room, claims.member_id))

    def announce_resume(self, admitted: Admitted) -> None:
        """Tell the room a page took its seat back (after its ``joined`` went out, so
        that the page learns its seat from ``joined`` first)."""
        resumed, participant = admitted.resumed, admitted.participant
        if resumed is None or resumed.code is not ResumeCode.RESUMED:
            return
        if participant.role not in ON_STAGE:
            return
        for hook in list(self.resume_hooks):
            try:
                hook(admitted.room, participant)
            except Exception:
                logger.exception("room %s: a resume hook failed", admitted.room.spec.room_id)

    @staticmethod
    def _away(room: Room, participant: Participant, at_ms: int) -> Away:
        """What ``participant`` may get back if their page resumes (before the stage
        forgets them)."""
        pid = participant.participant_id
        return Away(at_ms, live=room.media.publisher == pid, muted=room.stage.is_muted(pid))

    def _resume_token(self, room: Room, member_id: MemberId) -> str:
        return resume_token(
            self._settings.auth.secret, room.spec.room_id, member_id, room.session_id
        )

    async def _resume_outcome(
        self, room: Room | None, member_id: MemberId, token_role: Role, resume: str
    ) -> Resumed:
        """What a page coming back with ``resume`` gets (no change to the room yet)."""
        if room is None or not token_matches(
            self._settings.auth.secret, resume, room.spec.room_id, member_id, room.session_id
        ):
            # Forged, or for another room, member or (ended) session: a plain join.
            return Resumed(ResumeCode.INVALID, token_role)
        away = await room.session.came_back(member_id)
        stage_role = (await room.session.stage_roles()).get(member_id)
        previous = room.current_of(member_id)
        if previous is not None:
            # Its old connection is still here (a network change): it hands over at once.
            away = self._away(room, previous, now_ms())
            stage_role = previous.role if previous.role in ON_STAGE else None
        grace_ms = round(self._settings.signaling.resume_grace * 1000)
        return decide(token_role, away, stage_role, now_ms(), grace_ms)

    async def _is_banned(self, room_id: RoomId, member_id: MemberId) -> bool:
        if self._bans is None:
            return False
        return await self._bans.is_banned(room_id, member_id)

    def _session_now(self, room_id: RoomId) -> str | None:
        """The current session of the room if it is live on this node (else none runs)."""
        room = self._live.get(room_id)
        return room.session_id if room is not None else None

    async def _is_removed(self, room_id: RoomId, member_id: MemberId) -> bool:
        session = self._session_now(room_id)
        if self._bans is None or session is None:
            return False
        return await self._bans.is_removed(room_id, session, member_id)

    async def remember_removal(self, room: Room, member_id: MemberId) -> None:
        """Keep ``member_id`` out of ``room`` for the rest of its session (raises
        ``StoreUnavailable`` when Redis cannot take it: then nobody is removed)."""
        if self._bans is None:
            raise StoreUnavailable()
        await self._read(
            self._bans.remove_for_session(room.spec.room_id, room.session_id, member_id)
        )

    async def ban(self, room: Room, member_id: MemberId) -> None:
        """Ban ``member_id`` from ``room`` in Redis (raises ``StoreUnavailable``)."""
        if self._bans is None:
            raise StoreUnavailable()
        await self._read(self._bans.ban(room.spec.room_id, member_id))

    def expel(self, room: Room, participant: Participant, reason: RoomError) -> None:
        """Send ``participant`` out of ``room`` now; their connection is told ``reason``."""
        listener = room.listener(participant.participant_id)
        self._remove_now(room, participant)
        if listener is not None:
            listener.ended(reason)

    @staticmethod
    def _participant(member_id: MemberId, member: Member | None, role: Role) -> Participant:
        return Participant(
            participant_id=new_participant_id(),
            member_id=member_id,
            name=member.name if member else member_id,
            role=role,
            tier=member.tier if member else None,
            joined_at=time.monotonic(),
        )

    async def _take_lease(self, room_id: RoomId) -> None:
        """Cluster mode: this node's lease on ``room_id`` (waiting up to the lease TTL for
        a dead owner's to run out); ``RoomMoved`` when another node keeps it."""
        owner = self.ownership
        if owner is None or owner.holds(room_id):
            return
        if owner.refusing():
            raise RoomMoved()  # draining or stopping: the room opens elsewhere
        try:
            await owner.take(room_id, owner.ttl + RoomService.TAKE_SLACK_S)
        except LeaseHeld as held:
            logger.info("room %s: owned by %s, not opened here", room_id, held.holder)
            raise RoomMoved() from None
        except (RedisError, OSError) as exc:
            logger.warning("room %s: lease unreadable (%s): refusing", room_id, exc)
            raise StoreUnavailable() from None

    @staticmethod
    async def _adopt(session: SessionState) -> None:
        """A session taken over from a node that died kept its stage roles but no record of
        who went away (nobody left in order): its speakers and co-hosts count as gone now,
        so that their pages resuming within the grace period get their seats back."""
        at = now_ms()
        for member_id, role in (await session.stage_roles()).items():
            if role in ON_STAGE:
                kept = await session.came_back(member_id)
                await session.went_away(member_id, kept or Away(at, live=False))

    # Beyond the lease TTL, how long a join waits for a dead owner's lease (seconds).
    TAKE_SLACK_S = 0.5
    # How long the pages of a room that leaves this node get to close their sockets.
    HAND_OVER_WAIT_S = 2.0

    async def _open(self, spec: RoomSpec) -> Room:
        """The room, opened once however many joins ask for it at the same time (they all
        wait for the one opening: a taken-over session is adopted before any resumes)."""
        room_id = spec.room_id
        opening = self._opening.get(room_id)
        if opening is None:
            opening = asyncio.ensure_future(self._open_now(spec))
            self._opening[room_id] = opening
            opening.add_done_callback(lambda _: self._opening.pop(room_id, None))
        return await asyncio.shield(opening)

    async def _open_now(self, spec: RoomSpec) -> Room:
        await self._take_lease(spec.room_id)
        try:
            session = await self._states.open(spec.room_id, now_ms())
        except BaseException:
            if self.ownership is not None and spec.room_id not in self._live:
                await self.ownership.release(spec.room_id)
            raise
        opened = self._live.get(spec.room_id)
        if opened is not None:  # another join opened the room while this one waited
            return opened
        lost: list[LostLeave] = []
        if self.ownership is not None:
            await self._adopt(session)
            lost = await self._lost_leaves(spec.room_id, session)
        holder: list[Room] = []

        def on_live(live: bool, publisher: ParticipantId | None) -> None:
            if holder:
                holder[0].stream_changed(live, publisher)
                for hook in list(self.live_hooks):
                    try:
                        hook(holder[0], live, publisher)
                    except Exception:
                        logger.exception("room %s: a live hook failed", spec.room_id)

        media = RoomMedia(
            spec.room_id, self.ice, self._settings.media, on_live, self.media_counters
        )
        signaling = self._settings.signaling
        rules = PresenceRules(
            signaling.presence_interval, signaling.presence_budget, signaling.people_page
        )
        room = Room(
            spec, media, session, self._bus, rules, self._settings.interactions.flush_interval
        )
        holder.append(room)
        # Stage slots changed: every subscriber re-offers to cover them (docs/protocol.md).
        media.on_tracks_changed = lambda: room.broadcast(*out.tracks(media.tracks_json()))
        media.on_levels = lambda speaking, levels: room.broadcast(*out.speaking(speaking, levels))
        self._live[spec.room_id] = room
        for leave in lost:
            self.record(
                EventKind.LEAVE,
                room,
                leave.member_id,
                event_id=leave_event_id(room.session_id, leave.entry.participant),
                at_ms=leave.at_ms,
                watch_seconds=leave.watch_seconds,
                role=leave.role,
                reason=LOST_REASON,
            )
            if self.lost_pages is not None:
                self.lost_pages.recorded(leave)
        if lost:
            logger.info("room %s: %d pages lost with their node left", spec.room_id, len(lost))
        return room

    # At most this long (seconds) a take-over looks for the pages a dead owner held.
    LOST_PAGES_WAIT_S = 1.0

    async def _lost_leaves(self, room_id: RoomId, session: SessionState) -> list[LostLeave]:
        """The leaves of the pages a dead owner held in ``session`` (none if unreadable:
        logged; their watch time then ends with nothing, as before)."""
        if self.lost_pages is None:
            return []
        try:
            async with asyncio.timeout(self.LOST_PAGES_WAIT_S):
                return await self.lost_pages.find(room_id, session)
        except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:
            logger.warning(
                "room %s: the pages of its dead owner not found (%s): no leave recorded",
                room_id,
                type(exc).__name__,
            )
            return []

    def _remove_now(
        self, room: Room, participant: Participant, keep_place: bool = False
    ) -> asyncio.Future[None] | None:
        """Take ``participant`` out of ``room`` now; return the (scheduled) media clean-up
        (with the release of their place unless a new connection of theirs keeps it)."""
        if room.remove(participant.participant_id) is None:
            return None
        if room.empty and room in self._leaving:
            self._leaving[room].set()
        watch = max(0.0, time.monotonic() - participant.joined_at)
        self.record(
            EventKind.LEAVE,
            room,
            participant.member_id,
            # The same id whoever records it (server/rooms/lost_pages.py).
            event_id=leave_event_id(room.session_id, participant.participant_id),
            watch_seconds=round(watch, 3),
            role=participant.role.value,
        )
        away = None
        if not keep_place and (
            participant.role in ON_STAGE or room.media.publisher == participant.participant_id
        ):
            away = self._away(room, participant, now_ms())
        closing = asyncio.ensure_future(
            self._clean_up(room, participant, release=not keep_place, away=away)
        )
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        for hook in list(self.leave_hooks):
            try:
                hook(room, participant)
            except Exception:
                logger.exception("room %s: a leave hook failed", room.spec.room_id)
        logger.info(
            "room %s: %s left after %.1f s", room.spec.room_id, participant.member_id, watch
        )
        return closing

    @staticmethod
    async def _clean_up(
        room: Room, participant: Participant, release: bool, away: Away | None
    ) -> None:
        if room.handed_over:
            # The session is the new owner's now: nothing of this departure is written.
            await room.media.remove(participant.participant_id)
            return
        if away is not None:
            # Kept for a page that resumes (server/rooms/resume.py); if the state cannot
            # take it, the page comes back as its token's role, and the clean-up goes on.
            try:
                await room.session.went_away(participant.member_id, away)
            except Exception as exc:
                logger.warning(
                    "room %s: could not keep what %s may resume (%s)",
                    room.spec.room_id,
                    participant.member_id,
                    type(exc).__name__,
                )
        # Unless they are back already (a new connection claimed the place it holds).
        if release and room.current_of(participant.member_id) is None:
            await room.session.release_place(participant.member_id)
        await room.media.remove(participant.participant_id)

    async def leave(self, room: Room, participant: Participant) -> None:
        """Remove ``participant`` (if still there), close its media, close an empty room."""
        # By id: the record changes when the participant's role does (stage).
        current = room.get(participant.participant_id)
        if current is None:
            return
        closing = self._remove_now(room, current)
        # Its own task: a dropped socket cancels the session that called us, and a room
        # left empty must still close (it stayed open forever when this was inline).
        finish = asyncio.ensure_future(self._after_leave(room, closing))
        self._closing.add(finish)
        finish.add_done_callback(self._closing.discard)
        await asyncio.shield(finish)

    async def _after_leave(self, room: Room, closing: asyncio.Future[None] | None) -> None:
        """Wait for a leaver's media clean-up, then close ``room`` if it is empty."""
        if closing is not None:
            await closing
        if room.empty and self._live.get(room.spec.room_id) is room:
            del self._live[room.spec.room_id]
            await self._closing_hooks(room)
            await room.close()
            await room.media.close()
            if self.ownership is not None and self._live.get(room.spec.room_id) is None:
                await self.ownership.release(room.spec.room_id)

    def lost(self, room_id: RoomId) -> None:
        """This node lost ``room_id``'s lease (``Ownership.on_lost``): it stops serving the
        room at once, writing nothing more to its session."""
        room = self._live.get(room_id)
        if room is not None:
            self.spawn(room, self._leave_node(room, orderly=False), "giving up a lost room")

    async def hand_over(self, room_id: RoomId) -> bool:
        """Move ``room_id`` off this node (drain, orderly stop): what its stage and live
        host may resume is kept, the lease released, and its pages told to reconnect (the
        next join, on any node, takes the room over). False when it is not live here."""
        room = self._live.get(room_id)
        if room is None:
            return False
        await self._leave_node(room, orderly=True)
        return True

    async def hand_over_all(self) -> None:
        """Move every room live here to other nodes (drain, orderly stop)."""
        await asyncio.gather(*(self.hand_over(room_id) for room_id in list(self._live)))

    async def _leave_node(self, room: Room, orderly: bool) -> None:
        room_id = room.spec.room_id
        if self._live.get(room_id) is not room:
            return
        del self._live[room_id]
        if orderly:
            at = now_ms()
            keep = [
                (p.member_id, self._away(room, p, at))
                for p in room.participants
                if p.role in ON_STAGE or room.media.publisher == p.participant_id
            ]
            for member_id, away in keep:
                try:
                    await room.session.went_away(member_id, away)
                except Exception as exc:
                    logger.warning("room %s: %s's seat not kept (%r)", room_id, member_id, exc)
        room.handed_over = True
        if orderly and self.ownership is not None:
            await self.ownership.release(room_id)
        listeners = [room.listener(p.participant_id) for p in room.participants]
        for listener in listeners:
            if listener is not None:
                listener.ended(RoomMoved())
        # The close hooks see ``handed_over``: what this node kept of the session (its part
        # of a recording) is closed now, for the new owner to go on from.
        await self._closing_hooks(room)
        if not room.empty:
            emptied = self._leaving[room] = asyncio.Event()
            try:
                await asyncio.wait_for(emptied.wait(), self.HAND_OVER_WAIT_S)
            except TimeoutError:
                pass
            finally:
                del self._leaving[room]
        for participant in room.participants:  # pages that did not go: out anyway
            self._remove_now(room, participant, keep_place=True)
        await room.close(end_session=False)
        await room.media.close()
        logger.info("room %s: %s this node", room_id, "handed over by" if orderly else "lost by")

    async def _closing_hooks(self, room: Room) -> None:
        for hook in list(self.close_hooks):
            try:
                await hook(room)
            except Exception:
                logger.exception("room %s: a close hook failed", room.spec.room_id)

    def record(
        self,
        kind: EventKind,
        room: Room,
        member_id: MemberId,
        /,
        *,
        event_id: str | None = None,
        at_ms: int | None = None,
        **data: Any,
    ) -> None:
        """Record an engagement event for something that happened in ``room`` (never
        blocks); ``event_id`` and ``at_ms`` replace the fresh id and the time now."""
        data.setdefault("session", room.session_id)
        event = new_event(kind, room.spec.room_id, member_id, **data)
        if event_id is not None or at_ms is not None:
            event = dataclasses.replace(
                event, id=event_id or event.id, ts_ms=event.ts_ms if at_ms is None else at_ms
            )
        self._recorder.record(event)
        for hook in self.record_hooks:
            try:
                hook(kind, room, member_id, data)
            except Exception:
                logger.exception("room %s: a record hook failed", room.spec.room_id)

    def spawn(self, room: Room, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` for ``room`` in the background (owned here: awaited briefly, then
        cancelled, at close); a failure is logged with the room."""
        self.background(work, f"room {room.room_id}: {what}")

    def background(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` in the background, owned as ``spawn``'s; a failure is logged."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                logger.error("%s failed: %r", what, task.exception())

        task.add_done_callback(done)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._settings.redis.timeout)
            for task in list(self._tasks):
                task.cancel()
        rooms = list(self._live.values())
        self._live.clear()
        for room in rooms:
            await self._closing_hooks(room)
            await room.close()
        await asyncio.gather(*(room.media.close() for room in rooms))
