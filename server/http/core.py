"""The operator's REST API under ``/api``: members, rooms, tokens, bans and removals,
behind the admin key; ``PATHS`` is its part of the OpenAPI document.

Every route takes ``Authorization: Bearer <admin key>`` and answers JSON; errors are
``{"error": {"code", "message"}}`` with a 4xx status and change nothing, or 503
``unavailable`` when Redis cannot answer. A ban or a removal is published to every node
(``server/rooms/removals.py``): a member present in the room is sent out at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiohttp import web

from server import operations as ops
from server.engagement.members import MemberStore
from server.http.common import Handler, admin_only, error_response, parse_json, read_capped
from server.http.openapi import ID, TIER, Operation, obj, operation, path_param
from server.ids import MemberId, RoomId
from server.redis_client import RedisClient
from server.rooms.bans import BanStore
from server.rooms.store import RoomStore
from server.settings import Settings

MAX_BODY = 64 * 1024


class _Jsonable(Protocol):
    def to_json(self) -> dict[str, object]: ...


def _found(item: _Jsonable | None, missing: str) -> web.Response:
    if item is None:
        return error_response(404, "not_found", missing)
    return web.json_response(item.to_json())


async def _body(request: web.Request) -> dict[str, Any]:
    data = parse_json(await read_capped(request, MAX_BODY))
    if not isinstance(data, dict):
        raise ops.InputError("bad_json", "The body must be a JSON object.")
    return data


class OperatorApi:
    def __init__(
        self,
        settings: Settings,
        members: MemberStore,
        rooms: RoomStore,
        bans: BanStore,
        redis: RedisClient,
    ) -> None:
        self._settings = settings
        self._members = members
        self._rooms = rooms
        self._bans = bans
        self._redis = redis
        # Every node's live rooms (set by the app factory: server/crossnode.py).
        self.live_rooms: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None

    def routes(self) -> list[web.AbstractRouteDef]:
        g = self._guard
        return [
            web.get("/api/members/{member_id}", g(self.get_member)),
            web.put("/api/members/{member_id}", g(self.put_member)),
            web.get("/api/rooms", g(self.list_rooms)),
            web.get("/api/rooms/{room_id}", g(self.get_room)),
            web.put("/api/rooms/{room_id}", g(self.put_room)),
            web.post("/api/tokens", g(self.post_token)),
            web.get("/api/rooms/{room_id}/bans", g(self.list_bans)),
            web.put("/api/rooms/{room_id}/bans/{member_id}", g(self.put_ban)),
            web.delete("/api/rooms/{room_id}/bans/{member_id}", g(self.delete_ban)),
            web.post("/api/rooms/{room_id}/removals/{member_id}", g(self.post_removal)),
        ]

    def _guard(self, handler: Handler) -> Handler:
        return admin_only(self._settings, handler)

    async def get_member(self, request: web.Request) -> web.Response:
        mid = ops.check_id(request.match_info["member_id"], "member id")
        return _found(await self._members.get(MemberId(mid)), f"No member '{mid}'.")

    async def put_member(self, request: web.Request) -> web.Response:
        body = await _body(request)
        member = await ops.set_member(
            self._members,
            request.match_info["member_id"],
            body.get("tier"),
            body.get("name"),
            body.get("auto", False),
        )
        return web.json_response(member.to_json())

    async def list_rooms(self, request: web.Request) -> web.Response:
        live = await self.live_rooms() if self.live_rooms is not None else []
        rooms = [r.to_json() for r in await self._rooms.list()]
        return web.json_response({"rooms": rooms, "live": live})

    async def get_room(self, request: web.Request) -> web.Response:
        rid = ops.check_id(request.match_info["room_id"], "room id")
        return _found(await self._rooms.get(RoomId(rid)), f"No room '{rid}'.")

    async def put_room(self, request: web.Request) -> web.Response:
        body = await _body(request)
        invites = body.get("invites", [])
        if not isinstance(invites, list):
            raise ops.InputError("invalid_field", "invites must be a list of member ids.")
        spec = await ops.create_room(
            self._rooms,
            request.match_info["room_id"],
            body.get("title"),
            body.get("tiers", []),
            body.get("capacity", 50),
            invites,
            body.get("speaker_cap", 6),
            body.get("speaker_cameras", False),
            body.get("refusal_link"),
        )
        return web.json_response(spec.to_json())

    async def post_token(self, request: web.Request) -> web.Response:
        body = await _body(request)
        token = ops.make_token(
            self._settings.auth,
            body.get("member_id"),
            body.get("room_id"),
            body.get("role", "member"),
            body.get("ttl"),
        )
        url = f"/rooms/{body['room_id']}?token={token}"
        return web.json_response({"token": token, "path": url})

    # --- bans and removals: moderators act in the room; operators from outside it --------

    async def list_bans(self, request: web.Request) -> web.Response:
        room_id = request.match_info["room_id"]
        banned = await ops.list_bans(self._bans, room_id)
        return web.json_response({"room_id": room_id, "banned": banned})

    async def put_ban(self, request: web.Request) -> web.Response:
        room_id, member_id = request.match_info["room_id"], request.match_info["member_id"]
        await ops.ban(self._bans, self._redis, room_id, member_id)
        return web.json_response({"room_id": room_id, "member_id": member_id, "banned": True})

    async def post_removal(self, request: web.Request) -> web.Response:
        room_id, member_id = request.match_info["room_id"], request.match_info["member_id"]
        nodes = await ops.remove(self._redis, room_id, member_id)
        return web.json_response(
            {"room_id": room_id, "member_id": member_id, "nodes": nodes}, status=202
        )

    async def delete_ban(self, request: web.Request) -> web.Response:
        room_id, member_id = request.match_info["room_id"], request.match_info["member_id"]
        if not await ops.unban(self._bans, room_id, member_id):
            return error_response(
                404, "not_found", f"'{member_id}' is not banned from '{room_id}'."
            )
        return web.json_response({"room_id": room_id, "member_id": member_id, "banned": False})


# --- the OpenAPI description of the routes above ------------------------------------------

_MEMBER: Final = obj(
    ("member_id", "tier", "name", "score"),
    member_id=ID,
    tier=TIER,
    name={"type": "string", "nullable": True},
    score={"type": "number"},
)
_ROOM: Final = obj(
    ("id", "title", "tiers", "capacity", "invites", "speaker_cap", "speaker_cameras"),
    id=ID,
    title={"type": "string"},
    tiers={"type": "array", "items": TIER},
    capacity={"type": "integer"},
    invites={"type": "array", "items": ID},
    speaker_cap={"type": "integer"},
    speaker_cameras={"type": "boolean"},
)
_LIVE_ROOMS: Final = {
    "type": "array",
    "description": "Live rooms on every live node (a room may appear once per node that "
    "holds a session of it), by room id then node.",
    "items": obj(
        ("room_id", "title", "session", "participants", "subscribers", "live", "node", "url"),
        room_id=ID,
        title={"type": "string"},
        session={"type": "string"},
        participants={"type": "integer"},
        subscribers={"type": "integer"},
        live={"type": "boolean", "description": "The host is publishing."},
        node={"type": "string", "description": "The id of the node holding it."},
        url={"type": "string", "description": "That node's advertised URL."},
    ),
}
_LABEL: Final = {
    "type": "string",
    "minLength": 1,
    "description": "One line of text: no "
    "control characters, bidi overrides or lone surrogates (server/text.py).",
}
_MEMBER_ID = path_param("member_id")
_ROOM_ID = path_param("room_id")
_BAN: Final = obj(
    ("room_id", "member_id", "banned"), room_id=ID, member_id=ID, banned={"type": "boolean"}
)

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/members/{member_id}": {
        "get": operation(
            "A member's tier and score.", _MEMBER, params=[_MEMBER_ID], errors=(400, 404)
        ),
        "put": operation(
            "Create or update a member; the tier stays as set unless `auto`.",
            _MEMBER,
            params=[_MEMBER_ID],
            body=obj(
                ("tier",),
                tier=TIER,
                name={**_LABEL, "maxLength": ops.MAX_NAME},
                auto={"type": "boolean", "default": False},
            ),
        ),
    },
    "/api/rooms": {
        "get": operation(
            "Every room definition, and every live room of every live node (`live`).",
            obj(("rooms", "live"), rooms={"type": "array", "items": _ROOM}, live=_LIVE_ROOMS),
            errors=(),
        )
    },
    "/api/rooms/{room_id}": {
        "get": operation("A room definition.", _ROOM, params=[_ROOM_ID], errors=(400, 404)),
        "put": operation(
            "Create or replace a room definition.",
            _ROOM,
            params=[_ROOM_ID],
            body=obj(
                ("title", "tiers"),
                title={**_LABEL, "maxLength": ops.MAX_TITLE},
                tiers={
                    "oneOf": [
                        {"type": "array", "items": TIER},
                        {"type": "string", "description": "comma-separated tiers"},
                    ]
                },
                capacity={
                    "type": "integer",
                    "minimum": 1,
                    "maximum": ops.MAX_CAPACITY,
                    "default": 50,
                },
                invites={"type": "array", "items": ID},
                speaker_cap={
                    "type": "integer",
                    "minimum": 0,
                    "maximum": ops.MAX_SPEAKERS,
                    "default": 6,
                },
                speaker_cameras={"type": "boolean", "default": False},
            ),
        ),
    },
    "/api/tokens": {
        "post": operation(
            "Mint a member's or host's entry token and the room link that carries it.",
            obj(("token", "path"), token={"type": "string"}, path={"type": "string"}),
            body=obj(
                ("member_id", "room_id"),
                member_id=ID,
                room_id=ID,
                role={"type": "string", "enum": ["member", "host"], "default": "member"},
                ttl={"type": "integer", "minimum": 1, "maximum": ops.MAX_TTL},
            ),
        )
    },
    "/api/rooms/{room_id}/bans": {
        "get": operation(
            "The members banned from a room.",
            obj(("room_id", "banned"), room_id=ID, banned={"type": "array", "items": ID}),
            params=[_ROOM_ID],
        )
    },
    "/api/rooms/{room_id}/bans/{member_id}": {
        "put": operation(
            "Ban a member from a room; a member present is sent out at once (code `removed`).",
            _BAN,
            params=[_ROOM_ID, _MEMBER_ID],
        ),
        "delete": operation("Lift a ban.", _BAN, params=[_ROOM_ID, _MEMBER_ID], errors=(400, 404)),
    },
    "/api/rooms/{room_id}/removals/{member_id}": {
        "post": operation(
            "Send a member out of a room now, without a ban (they may rejoin). `nodes` is "
            "how many servers received the order.",
            obj(
                ("room_id", "member_id", "nodes"),
                room_id=ID,
                member_id=ID,
                nodes={"type": "integer", "minimum": 0},
            ),
            status=202,
            params=[_ROOM_ID, _MEMBER_ID],
        )
    },
}
