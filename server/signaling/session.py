"""One participant's WebSocket: read, parse, dispatch to the room; write through an outbox.

One reader (this coroutine) handles requests in order; one writer task drains the
outbox, so a room's broadcasts never wait on a slow socket. Broadcasts skip the outbox
while it is empty (``direct.DirectWriter``, coalesced by the app's ``Flusher``); anything
queued in the outbox first writes out what the writer holds, so order is kept. A
client's mistakes get an error message with a code and never a traceback; the socket
stays usable unless the protocol says it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, assert_never

from aiohttp import WSMessage, WSMsgType, web

from server import outbound as out
from server.ids import ParticipantId
from server.rooms.errors import Replaced, RoomError
from server.rooms.media import offered_kinds
from server.rooms.model import Participant, Role
from server.rooms.moderation import MODERATORS
from server.rooms.room import Room
from server.rooms.service import RoomService
from server.rooms.stage import PUBLISHERS, check_publish
from server.settings import SignalingSettings
from server.signaling import messages as m
from server.signaling.context import Feature, SessionContext
from server.signaling.direct import DirectWriter, Flushes, Transport
from server.signaling.errors import (
    CLOSE_JOIN_TIMEOUT,
    CLOSE_NORMAL,
    CLOSE_SERVICE_RESTART,
    close_for,
    error_message,
)
from server.signaling.frames import Frame, FrameCache
from server.signaling.people import first_page
from server.signaling.privacy import for_members

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 1024
CLOSE_SLOW_CONSUMER = 1008
# How long a socket the server closes gets to answer the close frame (seconds).
CLOSE_ANSWER_S = 1.0
# A page whose room moved to another node reconnects after this long (seconds).
MOVED_RETRY_S = 0.05


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


async def _stop(writer: asyncio.Task[None]) -> None:
    """Cancel ``writer`` and wait for it; a failure it ended with is logged, not raised."""
    writer.cancel()
    await asyncio.wait({writer})
    if not writer.cancelled() and writer.exception() is not None:
        logger.error("a socket's writer ended with %r", writer.exception())


class Session:
    """Implements ``RoomListener`` for one socket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        service: RoomService,
        settings: SignalingSettings,
        binary: bool,
        features: tuple[Feature, ...] = (),
        frames: FrameCache | None = None,
        transport: Transport | None = None,
        flusher: Flushes | None = None,
    ) -> None:
        self._ws = ws
        self._service = service
        self._settings = settings
        self._binary = binary
        self._outbox: asyncio.Queue[dict[str, Any] | Frame | _Close] = asyncio.Queue(OUTBOX_LIMIT)
        self._frames = frames or FrameCache()
        # Broadcasts go straight to the socket while nothing waits in the outbox.
        self._direct = DirectWriter(transport, flusher=flusher) if transport is not None else None
        self._room: Room | None = None
        self._me: Participant | None = None
        self._closing = False
        # The close the server asked for (the first ``_Close`` queued): the reader stops
        # waiting for frames, and ``run`` closes the socket with it.
        self._close_as: _Close | None = None
        # The handler's task while it waits for a frame (and only then), and whether a
        # close asked for has cancelled that wait.
        self._reading: asyncio.Task[Any] | None = None
        self._interrupted = False
        self._features = features
        self._routes: dict[type, Feature] = {
            kind: feature for feature in features for kind in feature.message_types
        }
        self._ctx: SessionContext | None = None
        # While a join reads its state, the room's broadcasts wait here: ``joined`` is
        # the first thing a page hears from its room.
        self._held: list[Callable[[], None]] | None = None

    # --- RoomListener -----------------------------------------------------------------

    def stream_changed(self, live: bool, publisher: ParticipantId | None) -> None:
        if self._held is not None:
            self._held.append(lambda: self.stream_changed(live, publisher))
            return
        self._send(m.stream(live, publisher))

    def room_event(self, kind: str, payload: dict[str, Any]) -> None:
        if self._held is not None:
            self._held.append(lambda: self.room_event(kind, payload))
            return
        built = self._frames.event(payload, kind, self._binary, self._moderator())
        if built is None:
            return  # it cannot be encoded: the cache logged it once for every recipient
        frame, whole = built
        direct = self._direct
        if (
            direct is not None
            and not self._closing
            and self._outbox.empty()  # what was queued is written already: order kept
            and not self._ws.closed
            and direct.write(whole)
        ):
            return
        self._send(frame)

    def replaced(self) -> None:
        self._fail(Replaced())

    def ended(self, error: RoomError) -> None:
        if close_for(error) == CLOSE_SERVICE_RESTART:
            # The room moved (server/cluster/ownership.py): come back at once, through
            # the router, to its new owner.
            self._send(m.reconnect(error.code, MOVED_RETRY_S))
            self._send(_Close(CLOSE_SERVICE_RESTART, error.code))
            return
        self._fail(error)

    def server_stopping(self, retry_after: float) -> None:
        """The server stops: tell the page to reconnect (to another node, or to this one
        when it is back) and close the socket; leaving the room follows as for any close."""
        self._send(m.reconnect("server_stopping", retry_after))
        self._send(_Close(CLOSE_SERVICE_RESTART, "server_stopping"))

    # --- outbox -------------------------------------------------------------------------

    def _moderator(self) -> bool:
        """Does this socket's participant moderate the room (and so see tiers)? As the
        room has them now (``SessionContext.current``, inlined: asked per broadcast)."""
        room, me = self._room, self._me
        if room is None or me is None:
            return False
        return (room.get(me.participant_id) or me).role in MODERATORS

    def _send(self, message: dict[str, Any] | Frame | _Close | None) -> None:
        # None: a broadcast the frame cache could not encode (it logged it).
        if self._closing or message is None:
            return
        if isinstance(message, dict) and not self._moderator():
            message = for_members(message)
        if self._direct is not None:
            self._direct.flush()  # broadcasts taken before this message go out before it
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self._closing = True
            logger.warning("closing a socket that does not read its messages")
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.get_nowait()
                self._outbox.put_nowait(_Close(CLOSE_SLOW_CONSUMER, "too slow"))
            self._ask_close(_Close(CLOSE_SLOW_CONSUMER, "too slow"))
            return
        if isinstance(message, _Close):
            self._closing = True
            self._ask_close(message)

    def _ask_close(self, close: _Close) -> None:
        if self._close_as is None:
            self._close_as = close
        if self._reading is not None and not self._interrupted:
            # Asked from another task (a replacing join, a removal, the server stopping)
            # while the reader waits for a frame: stop that wait. A request being handled
            # is never cancelled; the reader sees ``_closing`` once it is done.
            self._interrupted = True
            self._reading.cancel()

    def _fail(self, error: RoomError, ref: str | None = None) -> None:
        self._send(error_message(error, ref))
        close = close_for(error)
        if close is not None:
            self._send(_Close(close, error.code))

    async def _writer(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                if isinstance(item, _Close):
                    return  # what came before it is written; ``run`` closes the socket
                frame = (
                    item if isinstance(item, (str, bytes)) else m.encode_frame(item, self._binary)
                )
                if isinstance(frame, bytes):
                    await self._ws.send_bytes(frame)
                else:
                    await self._ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the socket is gone
            except Exception as exc:
                # One message that cannot be encoded or sent is dropped; the socket lives on.
                kind = item.get("type") if isinstance(item, dict) else "broadcast"
                logger.error("dropping a %s message this socket cannot send: %r", kind, exc)
            finally:
                self._outbox.task_done()

    # --- reader -------------------------------------------------------------------------

    async def run(self, first: WSMessage | None = None, opened: float | None = None) -> None:
        """Serve the socket; ``first``: a frame read already (by the relay's routing), at
        loop time ``opened`` (the join timeout counts from then)."""
        writer = asyncio.create_task(self._writer(), name="ws-writer")
        try:
            await self._read_loop(first, opened)
        finally:
            try:
                if self._room is not None and self._me is not None:
                    await self._service.leave(self._room, self._me)
                if not writer.done() and not self._ws.closed:
                    # Let queued replies (an error before a close, say) go out, briefly.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._outbox.join()), 1.0)
            finally:
                # Even when this handler is itself cancelled: the writer never outlives it.
                await _stop(writer)
            await self._close_socket()

    async def _close_socket(self) -> None:
        """Close the socket with the code asked for (else 1000), waiting briefly for the
        page's answer. Only called once no read is pending: aiohttp's ``close`` with a
        ``receive`` pending in another task drops the connection right after its close
        frame, and a client whose answer then fails reads 1006, not the code."""
        if self._ws.closed:
            return
        if self._direct is not None:
            self._direct.flush()  # the close frame follows the data
        close = self._close_as or _Close(CLOSE_NORMAL, "")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._ws.close(code=close.code, message=close.reason.encode()),
                CLOSE_ANSWER_S,
            )

    async def _receive(self, timeout: float | None) -> WSMessage | None:
        """The next frame, or None once the server asked to close the socket. Awaited
        in the handler's own task, as a plain ``receive``: frames are read with no extra
        hop through the event loop (a page's ``leave`` must not lose a race to its media
        closing), and ``_ask_close`` cancels the wait."""
        if self._close_as is not None:
            return None
        task = asyncio.current_task()
        self._reading = task
        try:
            return await self._ws.receive(timeout=timeout)
        except asyncio.CancelledError:
            # Ours, and no other cancellation on top of it: stop reading. Else the
            # handler itself is being cancelled.
            if not self._interrupted or task is None or task.uncancel() > 0:
                raise
            return None
        finally:
            self._reading = None

    async def _read_loop(self, first: WSMessage | None, opened: float | None) -> None:
        loop = asyncio.get_running_loop()
        join_deadline = (opened or loop.time()) + self._settings.join_timeout
        while not self._ws.closed and not self._closing:
            timeout = None if self._me else max(0.0, join_deadline - loop.time())
            try:
                msg, first = first or await self._receive(timeout), None
            except TimeoutError:
                self._send(m.error("join_timeout", "No join message arrived in time."))
                self._send(_Close(CLOSE_JOIN_TIMEOUT, "join_timeout"))
                return
            if msg is None:
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                logger.info("socket error: %s", self._ws.exception())
                return
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if (msg.type == WSMsgType.BINARY) != self._binary:
                # One encoding per socket, the subprotocol's: the frame is ignored.
                self._send(m.wrong_encoding(self._binary))
                continue
            await self._handle_frame(msg.data, self._binary)

    async def _handle_frame(self, data: str | bytes, binary: bool) -> None:
        ref: str | None = None
        try:
            message = m.parse(m.decode_frame(data, binary))
            ref = message.ref
            await self._dispatch(message)
        except m.ProtocolError as exc:
            self._send(m.error(exc.code, exc.detail, exc.ref, **exc.params))
        except RoomError as exc:
            self._fail(exc, ref)
        except Exception:
            logger.exception("unexpected error handling a client message")
            self._send(m.error("internal", "Something went wrong on our side.", ref))

    async def _dispatch(self, message: m.ClientMessage) -> None:
        match message:
            case m.Join() | m.Offer() | m.Candidate() | m.Stop() | m.Leave() | m.Ping():
                await self._core(message)
            case _:
                # mypy narrows what is left to ``FeatureMessage``; each feature matches
                # its own union exhaustively.
                await self._to_feature(self._joined(message.ref), message)

    def _joined(self, ref: str | None) -> SessionContext:
        """The context of the joined participant, as the room has them now."""
        if self._room is None or self._me is None or self._ctx is None:
            raise m.ProtocolError("not_joined", "Send join first.", ref)
        current = self._room.get(self._me.participant_id)
        if current is not None and current is not self._me:
            # The role changed (stage): handlers see the participant as the room has it.
            self._me = current
            self._ctx = dataclasses.replace(self._ctx, me=current)
        return self._ctx

    async def _core(self, message: m.CoreMessage) -> None:
        match message:
            case m.Ping():
                self._send(m.pong(message.ref))
            case m.Join():
                await self._join(message)
            case m.Offer():
                ctx = self._joined(message.ref)
                if message.pc == "pub":
                    sdp = await self._publish(ctx.room, ctx.me, message.sdp)
                else:
                    sdp = await ctx.room.media.answer(
                        ctx.me.participant_id, message.pc, message.sdp
                    )
                self._send(m.answer(message.pc, sdp, message.ref))
            case m.Candidate():
                ctx = self._joined(message.ref)
                await ctx.room.media.add_candidate(
                    ctx.me.participant_id, message.pc, message.candidate
                )
            case m.Stop():
                ctx = self._joined(message.ref)
                await ctx.room.media.stop(ctx.me.participant_id, message.pc)
            case m.Leave():
                self._joined(message.ref)
                self._send(_Close(CLOSE_NORMAL, "bye"))
            case _:
                assert_never(message)

    async def _to_feature(self, ctx: SessionContext, message: m.FeatureMessage) -> None:
        feature = self._routes.get(type(message))
        if feature is None:
            # Parsed, but no feature of this server handles it: say so rather than fall
            # through in silence (the client would wait for an answer forever).
            raise m.ProtocolError(
                "unknown_type", f"This server does not handle '{message.type}'.", message.ref
            )
        await feature.handle(ctx, message)

    async def _publish(self, room: Room, me: Participant, sdp: str) -> str:
        """Answer a ``pub`` offer: the host's go to the main feeds, a speaker's to the stage."""
        check_publish(me.role, offered_kinds(sdp), room.spec.speaker_cameras)
        answer = await room.media.answer(
            me.participant_id, "pub", sdp, stage=me.role is not Role.HOST
        )
        now = room.get(me.participant_id)
        if now is None or now.role not in PUBLISHERS:
            # Moved off the stage while the offer was negotiated: take it down again.
            await room.media.stop(me.participant_id, "pub")
            check_publish(now.role if now else Role.MEMBER, (), room.spec.speaker_cameras)
        return answer

    async def _join(self, message: m.Join) -> None:
        if self._me is not None:
            raise m.ProtocolError(
                "already_joined", "This connection has joined already.", message.ref
            )
        self._held, told = [], False
        try:
            told = await self._join_room(message)
        finally:
            held, self._held = self._held, None
        if told:  # ``joined`` is out: what the room said meanwhile follows, in order
            for deliver in held:
                deliver()

    async def _join_room(self, message: m.Join) -> bool:
        """Join, then send ``joined``; True once it is sent."""
        admitted = await self._service.join(message.token, message.room, self, message.resume)
        room, me, resumed, resume_token = admitted
        self._room, self._me = room, me
        self._ctx = SessionContext(room, me, self._service, self._send)
        extra: dict[str, Any] = {}
        for feature in self._features:
            extra.update(await feature.joined_state(self._ctx))
        self._send(
            out.joined(
                room={k: v for k, v in room.spec.to_json().items() if k != "invites"},
                you=me.to_json(),
                first_page=first_page(room),
                live=room.media.live,
                publisher=room.media.publisher,
                ice_servers=self._service.ice.browser_ice_servers(),
                features=extra,
                resume_token=resume_token,
                resumed=resumed.to_json() if resumed is not None else None,
                ref=message.ref,
            )
        )
        self._service.announce_resume(admitted)
        return True
