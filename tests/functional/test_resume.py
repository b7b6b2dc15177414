"""Reconnect with state kept (issue 11): a page that lost its socket comes back with the
resume token of its ``joined`` and gets its stage role back within the grace period;
after it, or when the host changed the role meanwhile, it comes back as what it is now.
Real server, real Redis, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import SERVICE
from server.ids import MemberId, RoomId
from server.rooms.resume import resume_token
from server.rooms.store import RoomStore
from tests.functional.conftest import SECRET, Socket, token

Serve = Callable[..., Awaitable[TestClient[Any, Any]]]


class Page:
    """One browser tab: joins, keeps the resume token of its last ``joined``, rejoins."""

    def __init__(self, client: TestClient[Any, Any], member: str, role: str = "member") -> None:
        self.client, self.member, self.role = client, member, role
        self.ws: Socket | None = None
        self.resume: str | None = None

    async def join(self, resume: str | None = None) -> dict[str, Any]:
        self.ws = Socket(await self.client.ws_connect("/ws"))
        message: dict[str, Any] = {
            "type": "join",
            "token": token(self.member, role=self.role),
            "room": "vip",
        }
        if resume is not None:
            message["resume"] = resume
        await self.ws.send(message)
        reply = await self.ws.recv()
        if reply["type"] == "joined":
            self.resume = reply["resume_token"]
        return reply

    async def drop(self) -> None:
        """The socket goes away (a reload, a network change)."""
        assert self.ws is not None
        await self.ws.ws.close()


async def stage_until(ws: Socket, speakers: list[str]) -> dict[str, Any]:
    """The ``stage`` broadcasts ``ws`` gets until one shows exactly ``speakers``."""
    while True:
        stage = await ws.recv_type("stage")
        if stage["speakers"] == speakers:
            return stage


async def speaker(host: Socket, page: Page) -> str:
    """``page`` joins and goes on stage (invited, accepts): its participant id."""
    reply = await page.join()
    pid = str(reply["you"]["id"])
    await host.send({"type": "stage_invite", "participant": pid})
    assert page.ws is not None
    assert (await page.ws.recv_type("stage_self"))["invited"] is True
    await page.ws.send({"type": "stage_reply", "accept": True})
    assert (await page.ws.recv_type("role"))["participant"]["role"] == "speaker"
    await stage_until(host, [pid])
    return pid


@pytest.fixture
async def started(serve: Serve) -> Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]]:
    async def start(**overrides: Any) -> tuple[TestClient[Any, Any], Socket]:
        client = await serve(**overrides)
        host = Page(client, "host", "host")
        assert (await host.join())["type"] == "joined"
        assert host.ws is not None
        return client, host.ws

    return start


async def test_a_speaker_who_drops_and_returns_within_grace_is_a_speaker_again(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    client, host = await started()
    cody = Page(client, "cody")
    await cody.join()
    cora = Page(client, "cora")
    first = await speaker(host, cora)
    await cora.drop()
    await stage_until(host, [])  # the server saw her go
    assert cody.ws is not None
    await stage_until(cody.ws, [])

    reply = await cora.join(resume=cora.resume)
    assert reply["type"] == "joined", reply
    assert reply["you"]["role"] == "speaker"
    assert reply["resumed"] == {
        "ok": True,
        "code": "resumed",
        "role": "speaker",
        "live": False,
        "muted": False,
    }
    again = str(reply["you"]["id"])
    assert again != first
    assert reply["stage"]["speakers"] == [again]
    # Everyone is told: the host and a member see her seated again.
    await stage_until(host, [again])
    await stage_until(cody.ws, [again])
    room = client.server.app[SERVICE].live_rooms[RoomId("vip")]
    assert room.stage.seated == [again]
    # The new token differs from none: the same session, the same member.
    assert reply["resume_token"] == cora.resume


async def test_a_cohost_who_reloads_is_cohost_again(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    client, host = await started()
    cora = Page(client, "cora")
    pid = await speaker(host, cora)
    await host.send({"type": "make_cohost", "participant": pid})
    assert (await host.recv_type("stage"))["cohost"] == pid
    await cora.drop()
    await stage_until(host, [])
    reply = await cora.join(resume=cora.resume)
    assert reply["you"]["role"] == "cohost"
    assert reply["stage"]["cohost"] == reply["you"]["id"]
    assert "hands" in reply  # the moderator's state, as for any co-host
    assert (await stage_until(host, [reply["you"]["id"]]))["cohost"] == reply["you"]["id"]


async def test_after_the_grace_period_a_speaker_comes_back_as_a_listener(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    client, host = await started(**{"signaling.resume_grace": 0.2})
    cora = Page(client, "cora")
    await speaker(host, cora)
    await cora.drop()
    await stage_until(host, [])
    await asyncio.sleep(0.4)  # the duration under test: longer than the grace period
    reply = await cora.join(resume=cora.resume)
    assert reply["you"]["role"] == "member"
    assert reply["resumed"] == {
        "ok": False,
        "code": "resume_expired",
        "role": "member",
        "live": False,
        "muted": False,
    }
    assert reply["stage"]["speakers"] == []


async def test_moved_off_meanwhile_comes_back_as_a_listener(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    """The host's change wins: moved off while her socket was still (half) there."""
    client, host = await started()
    cora = Page(client, "cora")
    pid = await speaker(host, cora)
    await host.send({"type": "stage_move_off", "participant": pid})
    await stage_until(host, [])
    await cora.drop()
    reply = await cora.join(resume=cora.resume)
    assert reply["you"]["role"] == "member"
    assert reply["resumed"]["code"] == "nothing_kept"
    assert reply["stage"]["speakers"] == []


async def test_removed_meanwhile_is_refused_as_without_a_resume_token(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    client, host = await started()
    cora = Page(client, "cora")
    pid = await speaker(host, cora)
    kept = cora.resume
    await host.send({"type": "remove", "participant": pid})
    assert cora.ws is not None
    assert (await cora.ws.recv_type("error"))["code"] == "removed"
    await stage_until(host, [])
    reply = await cora.join(resume=kept)
    assert reply["type"] == "error", reply
    assert (reply["code"], reply["params"]["case"]) == ("removed", "this_session")
    assert cora.ws is not None and await cora.ws.closed_with() == 4403


async def test_the_stage_full_meanwhile_gives_a_listener_with_its_code(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]], redis: Redis
) -> None:
    await ops.create_room(
        RoomStore(redis), "vip", "VIP lounge", "core,active", capacity=3, speaker_cap=1
    )
    client, host = await started()
    cora, cody = Page(client, "cora"), Page(client, "cody")
    await speaker(host, cora)
    await cora.drop()
    await stage_until(host, [])
    # The host gives the only seat to someone else while she is away.
    cody_id = await speaker(host, cody)
    reply = await cora.join(resume=cora.resume)
    assert reply["you"]["role"] == "member"
    assert reply["resumed"]["code"] == "resume_no_place"
    assert reply["stage"]["speakers"] == [cody_id]


@pytest.mark.parametrize("which", ["forged", "another_member", "another_room", "old_session"])
async def test_a_forged_or_foreign_resume_token_joins_as_a_plain_member(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
    caplog: pytest.LogCaptureFixture,
    which: str,
) -> None:
    client, host = await started()
    room = client.server.app[SERVICE].live_rooms[RoomId("vip")]
    cora, cody = Page(client, "cora"), Page(client, "cody")
    await speaker(host, cora)
    await cora.drop()
    await stage_until(host, [])
    tokens = {
        "forged": "r1." + "A" * 43,
        # Cora's own token, replayed by Cody: bound to the member, it gives him nothing.
        "another_member": cora.resume,
        "another_room": resume_token(SECRET, RoomId("other"), MemberId("cody"), room.session_id),
        "old_session": resume_token(SECRET, RoomId("vip"), MemberId("cody"), "s0old"),
    }
    reply = await cody.join(resume=tokens[which])
    assert reply["type"] == "joined", reply
    assert reply["you"]["role"] == "member"
    assert reply["resumed"] == {
        "ok": False,
        "code": "resume_invalid",
        "role": "member",
        "live": False,
        "muted": False,
    }
    assert reply["stage"]["speakers"] == []
    assert room.stage.seated == []
    assert all(r.exc_info is None for r in caplog.records)
    # The token is never logged.
    assert all(str(tokens[which]) not in r.getMessage() for r in caplog.records)
    # Cora's own token still works for her (Cody's attempt consumed nothing of hers).
    back = await cora.join(resume=cora.resume)
    assert back["you"]["role"] == "speaker"


async def test_a_resume_field_that_is_not_a_short_string_is_refused_and_changes_nothing(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    client, _host = await started()
    room = client.server.app[SERVICE].live_rooms[RoomId("vip")]
    for bad in [42, "x" * 65, ""]:
        ws = Socket(await client.ws_connect("/ws"))
        await ws.send({"type": "join", "token": token("cora"), "room": "vip", "resume": bad})
        reply = await ws.recv()
        assert (reply["type"], reply["code"]) == ("error", "invalid_field"), reply
        assert "resume" in reply["message"]
        assert room.current_of(MemberId("cora")) is None


async def test_a_muted_speaker_who_reloads_comes_back_muted(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    """A reload must not lift the host's mute: the seat comes back muted."""
    client, host = await started()
    cora = Page(client, "cora")
    pid = await speaker(host, cora)
    await host.send({"type": "mute", "participant": pid})
    assert (await host.recv_type("stage"))["muted"] == [pid]
    await cora.drop()
    await stage_until(host, [])
    reply = await cora.join(resume=cora.resume)
    again = reply["you"]["id"]
    assert reply["resumed"]["muted"] is True
    assert reply["stage"]["muted"] == [again]
    assert reply["stage_self"]["muted"] is True
    room = client.server.app[SERVICE].live_rooms[RoomId("vip")]
    assert room.media.is_muted(again)
    assert (await stage_until(host, [again]))["muted"] == [again]


async def test_a_speaker_whose_old_socket_lingers_takes_the_seat_over_at_once(
    started: Callable[..., Awaitable[tuple[TestClient[Any, Any], Socket]]],
) -> None:
    """A network change: the new socket arrives before the server noticed the old one
    died. The new one resumes the seat; the old one is told it was replaced."""
    client, host = await started()
    cora = Page(client, "cora")
    first = await speaker(host, cora)
    old = cora.ws
    assert old is not None
    reply = await cora.join(resume=cora.resume)
    assert reply["you"]["role"] == "speaker"
    assert reply["resumed"]["code"] == "resumed"
    again = reply["you"]["id"]
    assert reply["stage"]["speakers"] == [again] and again != first
    assert (await old.recv_type("error"))["code"] == "replaced"
    assert await old.closed_with() == 4409
    await stage_until(host, [again])
