"""The room session kept through the room state interface on a live server: stage roles,
places, and random participant ids."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import SERVICE
from server.ids import MemberId, RoomId
from server.rooms.model import Role
from tests.functional.conftest import Socket, token

Connect = Callable[..., Awaitable[Socket]]


async def test_stage_roles_and_places_are_kept_in_the_session_state(
    connect: Connect, client: TestClient[Any, Any]
) -> None:
    host = await connect()
    await host.join(token("host", role="host"))
    cora = await connect()
    you = (await cora.join(token("cora")))["you"]
    assert re.fullmatch(r"p[0-9a-f]{16}", you["id"])  # random, not a per-process counter
    session = client.server.app[SERVICE].live_rooms[RoomId("vip")].session
    assert await session.places_taken() == 1  # the host takes no place
    await host.send({"type": "stage_invite", "participant": you["id"]})
    await cora.recv_type("stage_self")
    await cora.send({"type": "stage_reply", "accept": True})
    await host.recv_type("role")
    assert await session.stage_roles() == {MemberId("cora"): Role.SPEAKER}
    await host.send({"type": "stage_move_off", "participant": you["id"]})
    role = await host.recv_type("role")
    assert role["participant"]["role"] == "member"
    assert await session.stage_roles() == {}
