"""The operator's REST API under ``/api``: members, rooms and tokens, behind the admin key.

Every route takes ``Authorization: Bearer <admin key>`` and answers JSON; errors are
``{"error": {"code", "message"}}`` with a 4xx status and change nothing.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from server import operations as ops
from server.engagement.members import MemberStore
from server.http_common import Handler, admin_only, error_response, read_capped
from server.ids import MemberId, RoomId
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
    raw = await read_capped(request, MAX_BODY)
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ops.InputError("bad_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ops.InputError("bad_json", "The body must be a JSON object.")
    return data


class OperatorApi:
    def __init__(
        self,
        settings: Settings,
        members: MemberStore,
        rooms: RoomStore,
        bans: BanStore | None = None,
    ) -> None:
        self._settings = settings
        self._members = members
        self._rooms = rooms
        self._bans = bans

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
        return web.json_response({"rooms": [r.to_json() for r in await self._rooms.list()]})

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

    # --- bans: moderators ban in the room; operators list, add and lift them ---------------

    def _ban_store(self) -> BanStore:
        if self._bans is None:  # pragma: no cover - the app factory always passes one
            raise ops.InputError("unavailable", "Bans are not available on this server.")
        return self._bans

    async def list_bans(self, request: web.Request) -> web.Response:
        room_id = request.match_info["room_id"]
        banned = await ops.list_bans(self._ban_store(), room_id)
        return web.json_response({"room_id": room_id, "banned": banned})

    async def put_ban(self, request: web.Request) -> web.Response:
        room_id, member_id = request.match_info["room_id"], request.match_info["member_id"]
        await ops.ban(self._ban_store(), room_id, member_id)
        return web.json_response({"room_id": room_id, "member_id": member_id, "banned": True})

    async def delete_ban(self, request: web.Request) -> web.Response:
        room_id, member_id = request.match_info["room_id"], request.match_info["member_id"]
        if not await ops.unban(self._ban_store(), room_id, member_id):
            return error_response(
                404, "not_found", f"'{member_id}' is not banned from '{room_id}'."
            )
        return web.json_response({"room_id": room_id, "member_id": member_id, "banned": False})
