"""Replays over HTTP: the page, its data and video for members, the toggle for operators.

| method | path | what | auth |
| --- | --- | --- | --- |
| GET | /replay/{session} | the replay page | (the page asks with the token) |
| GET | /api/replays/{session} | the recording's room, times and timeline | ?token |
| GET | /api/replays/{session}/video | the WebM file, with HTTP range requests | ?token |
| POST | /api/replays/{session}/watch | seconds watched since the last report | token |
| GET, PUT | /api/rooms/{room_id}/recording | the room's recording toggle | admin |
| GET | /api/rooms/{room_id}/replays | the room's recorded sessions | admin |

A member's token is checked as a join checks it (signature, expiry, the recorded room),
and the room's gate as it stands now (its tiers and invites; a ban keeps the member out).
Watch reports become ``replay_watch`` events: at most ``replay.watch_report_max`` seconds
each, one per report id (``report``) per member and session, and a member's total
per session capped at twice the recording's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from redis.exceptions import RedisError

from server import operations as ops
from server.engagement.events import EventKind, new_event
from server.engagement.members import MemberStore
from server.engagement.recorder import EventRecorder
from server.http.common import (
    Handler,
    RequestError,
    admin_only,
    error_response,
    room_error_response,
    unavailable_response,
)
from server.http.core import _body
from server.http.openapi import ID, Operation, obj, operation, path_param
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.rooms.bans import BanStore
from server.rooms.errors import Banned, RoomError, RoomNotFound, UnknownMember
from server.rooms.policy import check_entry
from server.rooms.replay import Recordings
from server.rooms.replay_store import ReplayStore
from server.rooms.store import RoomStore
from server.rooms.tokens import verify_token
from server.settings import Settings

WEB_DIR: Final = Path(__file__).resolve().parent.parent.parent / "web"
PAGE_HEADERS: Final = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data: https:; "
        "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}
# A member's watch reports per session are kept (for dedup) this long.
WATCH_TTL_S: Final = 7 * 24 * 3600
STATUS: Final = {
    "not_found": 404,
    "room_not_found": 404,
    "tier_too_low": 403,
    "banned": 403,
    "unknown_member": 403,
}


# What a member route answers as a refusal (4xx) or 503, never as a traceback.
_REFUSALS: Final = (RoomError, RequestError, ops.InputError, RedisError, OSError, TimeoutError)


def _refusal(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, RoomError):
        return room_error_response(STATUS.get(exc.code, 400), exc)
    if isinstance(exc, RequestError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, ops.InputError):
        return error_response(400, exc.code, exc.message)
    return unavailable_response(request, exc)


def _watch_key(session: str, member: str) -> str:
    return f"salon:replay:watch:{{{session}}}:{member}"


@dataclass(frozen=True)
class ReplayApi:
    """The routes above, over the stores they read and the recorder of watch events."""

    _settings: Settings
    _redis: RedisClient
    _store: ReplayStore
    _recordings: Recordings
    _rooms: RoomStore
    _members: MemberStore
    _bans: BanStore
    _recorder: EventRecorder

    def routes(self) -> list[web.AbstractRouteDef]:
        def member(handler: Handler) -> Handler:
            async def guarded(request: web.Request) -> web.StreamResponse:
                try:
                    return await handler(request)
                except _REFUSALS as exc:
                    return _refusal(request, exc)

            return guarded

        admin = self._settings
        return [
            web.get("/replay/{session}", self.page),
            web.get("/api/replays/{session}", member(self.view)),
            web.get("/api/replays/{session}/video", member(self.video)),
            web.post("/api/replays/{session}/watch", member(self.watch)),
            web.get("/api/rooms/{room_id}/recording", admin_only(admin, self.get_toggle)),
            web.put("/api/rooms/{room_id}/recording", admin_only(admin, self.put_toggle)),
            web.get("/api/rooms/{room_id}/replays", admin_only(admin, self.list_replays)),
        ]

    # --- members ------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "replay.html", headers=PAGE_HEADERS)

    async def _admitted(self, request: web.Request, token: Any) -> tuple[dict[str, Any], MemberId]:
        """The recording and the token's member, if the room's gate lets them in now."""
        session = request.match_info["session"]
        meta = await self._store.load(session)
        if meta is None:
            raise RoomError("not_found", case="replay", what="replay", id=session[:64])
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise RoomError("token_invalid", case="malformed")
        auth = self._settings.auth
        room_id = RoomId(str(meta.get("room_id", "")))
        claims = verify_token(auth.secret, token, room_id, auth.issuer)
        spec = await self._rooms.get(room_id)
        if spec is None:
            raise RoomNotFound(room_id)
        member = await self._members.get(claims.member_id)
        if member is None and claims.role.value != "host":
            raise UnknownMember(claims.member_id)
        if await self._bans.is_banned(room_id, claims.member_id):
            raise Banned(spec.title)
        check_entry(spec, member, claims.role, 0, claims.member_id)  # tiers, invites; no cap
        return meta, claims.member_id

    async def view(self, request: web.Request) -> web.Response:
        meta, _ = await self._admitted(request, request.query.get("token"))
        keys = ("session", "room_id", "title", "started_ms", "ended_ms", "duration_ms")
        return web.json_response(
            {**{k: meta.get(k) for k in keys}, "timeline": meta.get("timeline", [])},
            headers={"Cache-Control": "no-store"},
        )

    async def video(self, request: web.Request) -> web.FileResponse:
        meta, _ = await self._admitted(request, request.query.get("token"))
        path = self._store.video_path(str(meta["session"]))
        # FileResponse answers Range requests with 206 and sends the file off the loop.
        return web.FileResponse(
            path, headers={"Content-Type": "video/webm", "Cache-Control": "private, no-store"}
        )

    async def watch(self, request: web.Request) -> web.Response:
        body = await _body(request)
        meta, member_id = await self._admitted(request, body.get("token"))
        seconds = body.get("seconds")
        report = body.get("report")
        limit = self._settings.replay.watch_report_max
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or not 0 < seconds <= limit
        ):
            raise RoomError("invalid_field", case="replay_seconds", limit=limit)
        if not is_valid_id(report):
            raise RoomError("invalid_field", case="replay_report")
        session = str(meta["session"])
        cap = 2 * max(float(meta.get("duration_ms") or 0) / 1000, 1.0)
        key = _watch_key(session, member_id)
        # One report counts once; the total stops at the cap (a tab left on a loop).
        fresh = await self._redis.hsetnx(key, f"r{report}", 1)
        counted = 0.0
        if fresh:
            total = float(await self._redis.hincrbyfloat(key, "total", seconds))
            counted = max(0.0, min(seconds, cap - (total - seconds)))
            await self._redis.expire(key, WATCH_TTL_S)
        if counted > 0:
            self._recorder.record(
                new_event(
                    EventKind.REPLAY_WATCH,
                    str(meta["room_id"]),
                    member_id,
                    seconds=round(counted, 3),
                    session=session,
                    report=report,
                )
            )
        return web.json_response({"counted": round(counted, 3)}, status=202)

    # --- operators ----------------------------------------------------------------------

    def _room(self, request: web.Request) -> RoomId:
        return RoomId(ops.check_id(request.match_info["room_id"], "room id"))

    async def get_toggle(self, request: web.Request) -> web.Response:
        room_id = self._room(request)
        on = await self._store.recording_on(room_id)
        return web.json_response(
            {"room_id": room_id, "on": on, "recording": self._recordings.recording(room_id)}
        )

    async def list_replays(self, request: web.Request) -> web.Response:
        room_id = self._room(request)
        if await self._rooms.get(room_id) is None:
            return room_error_response(404, RoomNotFound(room_id))
        return web.json_response({"replays": await self._store.sessions(room_id)})

    async def put_toggle(self, request: web.Request) -> web.Response:
        room_id = self._room(request)
        body = await _body(request)
        if await self._rooms.get(room_id) is None:
            return room_error_response(404, RoomNotFound(room_id))
        on = body.get("on")
        if not isinstance(on, bool):
            return room_error_response(400, RoomError("invalid_field", case="recording_toggle"))
        recording = await self._recordings.set_recording(room_id, on)
        return web.json_response({"room_id": room_id, "on": on, "recording": recording})


_SESSION: Final = path_param("session", ID, "The recorded room session's id.")
_TOKEN_Q: Final = {
    "name": "token",
    "in": "query",
    "required": True,
    "schema": {"type": "string"},
    "description": "The member's room token (as for a join).",
}
_MEMBER: Final[dict[str, Any]] = {"guarded": False, "errors": (400, 403, 404, 503)}
_NUM: Final = {"type": "number"}
_INT: Final = {"type": "integer"}
_TOGGLE: Final = obj(
    ("room_id", "on", "recording"),
    room_id=ID,
    on={"type": "boolean", "description": "Sessions going live are recorded."},
    recording={"type": "boolean", "description": "This session is being recorded now."},
)
_ENTRY: Final = obj(
    ("kind", "t"),
    kind={"type": "string", "enum": ["chat", "chat_deleted", "product"]},
    t={**_NUM, "description": "Seconds from the start of the recording."},
    id={"type": "string"},
    name={"type": "string"},
    role={"type": "string"},
    text={"type": "string"},
    product={"type": "object", "nullable": True, "description": "null: unpinned."},
)

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/replays/{session}": {
        "get": operation(
            "A recorded session: its room, times and timeline (chat lines and product "
            "moments), for a member the room's gate admits (public: the /replay page).",
            obj(
                ("session", "room_id", "title", "duration_ms", "timeline"),
                session=ID,
                room_id=ID,
                title={"type": "string"},
                started_ms=_INT,
                ended_ms=_INT,
                duration_ms=_INT,
                timeline={"type": "array", "items": _ENTRY},
            ),
            params=[_SESSION, _TOKEN_Q],
            **_MEMBER,
        )
    },
    "/api/replays/{session}/video": {
        "get": operation(
            "The recording (WebM: VP8 and Opus as the host sent them); answers Range "
            "requests with 206 (public, with the member's token).",
            {"type": "string", "format": "binary"},
            also=(206,),
            params=[_SESSION, _TOKEN_Q],
            content_type="video/webm",
            **_MEMBER,
        )
    },
    "/api/replays/{session}/watch": {
        "post": operation(
            "Report seconds of the replay watched since the last report (a replay_watch "
            "event; each report number counts once, the total is capped).",
            obj(("counted",), counted={**_NUM, "description": "Seconds counted."}),
            status=202,
            params=[_SESSION],
            body=obj(
                ("token", "seconds", "report"),
                token={"type": "string"},
                seconds={**_NUM, "minimum": 0, "exclusiveMinimum": True},
                report={**ID, "description": "The page's id of this report (counted once)."},
            ),
            **_MEMBER,
        )
    },
    "/api/rooms/{room_id}/replays": {
        "get": operation(
            "The room's recorded sessions, newest first (the replay page is "
            "/replay/SESSION?token=… with a member's room token).",
            obj(
                ("replays",),
                replays={
                    "type": "array",
                    "items": obj(
                        ("session",),
                        session=ID,
                        title={"type": "string"},
                        started_ms=_INT,
                        ended_ms=_INT,
                        duration_ms=_INT,
                    ),
                },
            ),
            params=[path_param("room_id")],
            errors=(400, 404),
        )
    },
    "/api/rooms/{room_id}/recording": {
        "get": operation(
            "Whether the room's sessions are recorded, and whether one is now.",
            _TOGGLE,
            params=[path_param("room_id")],
        ),
        "put": operation(
            "Turn the room's recording on or off (a live session starts or stops now).",
            _TOGGLE,
            params=[path_param("room_id")],
            body=obj(("on",), on={"type": "boolean"}),
            errors=(400, 404),
        ),
    },
}
