"""The stage over the real WebSocket protocol: every permission rule, what everyone is told,
what is recorded, and bans that hold across fresh tokens (real server, real Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server import operations as ops
from server.app import SERVICE
from server.engagement.events import STREAM_KEY, Event, decode
from server.engagement.members import MemberStore
from server.ids import MemberId, RoomId
from server.rooms.bans import bans_key
from server.rooms.room import Room
from server.rooms.store import RoomStore
from tests.functional.conftest import ADMIN_KEY, Socket, token
from tests.support.waiting import eventually

Connect = Callable[..., Awaitable[Socket]]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Enough of a browser's sendonly offer for the server to read its m-lines.
VIDEO_OFFER = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def live_room(client: TestClient[Any, Any], room_id: str = "vip") -> Room:
    return client.server.app[SERVICE].live_rooms[RoomId(room_id)]


async def joined(connect: Connect, member: str, role: str = "member") -> tuple[Socket, str]:
    ws = await connect()
    reply = await ws.join(token(member, role=role))
    assert reply["type"] == "joined", reply
    return ws, str(reply["you"]["id"])


async def events(redis: Redis, kind: str, count: int = 1) -> list[Event]:
    async def recorded() -> list[Event]:
        entries = await redis.xrange(STREAM_KEY)
        return [e for e in (decode(f[b"e"]) for _, f in entries) if e.kind == kind]

    found: list[Event] = await eventually(
        recorded, until=lambda found: len(found) >= count, timeout=5, what=f"{count} {kind} events"
    )
    return found


async def expect_error(
    ws: Socket, code: str, field: str | None = None, **params: Any
) -> dict[str, Any]:
    """The next error: its ``code``, the ``params`` given among its own, and for a refused
    message (a protocol error) the ``field`` its sentence names."""
    reply = await ws.recv_type("error")
    assert reply["code"] == code, reply
    got = reply.get("params", {})
    assert {k: got.get(k) for k in params} == params, reply
    if field is not None:
        assert field in reply["message"], reply
    return reply


async def on_stage(connect: Connect, host: Socket, member: str) -> tuple[Socket, str]:
    """Invite ``member`` and have them accept; return their socket and participant id."""
    ws, pid = await joined(connect, member)
    await host.send({"type": "stage_invite", "participant": pid})
    assert (await ws.recv_type("stage_self"))["invited"] is True
    await ws.send({"type": "stage_reply", "accept": True})
    role = await ws.recv_type("role")
    assert (role["participant"]["id"], role["participant"]["role"]) == (pid, "speaker")
    return ws, pid


# --- hands --------------------------------------------------------------------------------


async def test_hand_queue_with_tier_and_score_goes_to_the_host_only(
    connect: Connect, redis: Redis
) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await joined(connect, "cora")
    cody, _ = await joined(connect, "cody")
    await cora.send({"type": "hand_raise"})
    hands = await host.recv_type("hands")
    (entry,) = hands["queue"]
    assert entry["participant"] == {
        "id": cora_id,
        "member_id": "cora",
        "name": "Cora",
        "role": "member",
        "tier": "core",
    }
    # The engagement score as the member store had it when the hand went up.
    member = await MemberStore(redis).get(MemberId("cora"))
    assert member is not None
    assert isinstance(entry["score"], float) and entry["score"] >= 0.0
    assert entry["score"] <= round(member.score, 1)
    assert (await cora.recv_type("stage_self"))["hand"] is True
    stage = await cody.recv_type("stage")
    assert stage["speakers"] == [] and stage["cap"] == 6
    await cody.send({"type": "hand_raise"})
    second = await host.recv_type("hands")
    assert [h["participant"]["member_id"] for h in second["queue"]] == ["cora", "cody"]
    await cora.send({"type": "hand_lower"})
    third = await host.recv_type("hands")
    assert [h["participant"]["member_id"] for h in third["queue"]] == ["cody"]
    raised = await events(redis, "hand_raise", 2)
    assert [e.member_id for e in raised] == ["cora", "cody"]


async def test_host_dismisses_a_hand(connect: Connect) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await joined(connect, "cora")
    await cora.send({"type": "hand_raise"})
    await host.recv_type("hands")
    await host.send({"type": "hand_dismiss", "participant": cora_id})
    assert (await host.recv_type("hands"))["queue"] == []
    await cora.recv_type("stage_self")
    assert (await cora.recv_type("stage_self"))["hand"] is False


# --- invitations and roles ----------------------------------------------------------------


async def test_invite_accept_pushes_the_role_to_everyone_and_records(
    connect: Connect, redis: Redis, client: TestClient[Any, Any]
) -> None:
    host, host_id = await joined(connect, "host", "host")
    cody, _ = await joined(connect, "cody")
    cora, cora_id = await joined(connect, "cora")
    await host.send({"type": "stage_invite", "participant": cora_id})
    invited = await cora.recv_type("stage_self")
    assert invited["invited"] is True and invited["by"]["id"] == host_id
    await cora.send({"type": "stage_reply", "accept": True})
    for ws in (host, cody, cora):
        role = await ws.recv_type("role")
        assert role["participant"]["id"] == cora_id
        assert role["participant"]["role"] == "speaker"
        assert (await ws.recv_type("stage"))["speakers"] == [cora_id]
    assert (await events(redis, "stage_invite"))[0].data["by"] == "host"
    assert (await events(redis, "stage_accept"))[0].member_id == "cora"
    # A late joiner sees the stage and the speaker's role in `joined`.
    ada = await connect()
    state = await ada.join(token("ada"))
    assert state["stage"]["speakers"] == [cora_id]
    assert {p["id"]: p["role"] for p in state["participants"]}[cora_id] == "speaker"
    assert state["tracks"] == {"audio": [], "video": []}
    assert "hands" not in state  # the queue is for the host and co-host
    assert live_room(client).get(cora_id).role.value == "speaker"  # type: ignore[union-attr]


async def test_decline_leaves_the_member_a_member(connect: Connect, redis: Redis) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await joined(connect, "cora")
    await host.send({"type": "stage_invite", "participant": cora_id})
    await cora.recv_type("stage_self")
    await cora.send({"type": "stage_reply", "accept": False})
    assert (await cora.recv_type("stage_self"))["invited"] is False
    assert (await events(redis, "stage_decline"))[0].member_id == "cora"
    await cora.send({"type": "stage_reply", "accept": True})
    await expect_error(cora, "invalid_state", case="no_invitation")


async def test_the_speaker_cap_refuses_with_stage_full(
    connect: Connect, redis: Redis, client: TestClient[Any, Any]
) -> None:
    await ops.create_room(RoomStore(redis), "vip", "VIP lounge", "core,active", 3, (), 1)
    host, _ = await joined(connect, "host", "host")
    await on_stage(connect, host, "cora")
    _, cody_id = await joined(connect, "cody")
    await host.send({"type": "stage_invite", "participant": cody_id, "ref": "full"})
    reply = await expect_error(host, "stage_full", cap=1)
    assert reply["ref"] == "full"
    assert not live_room(client).stage.is_invited(cody_id)  # type: ignore[arg-type]


async def test_leaving_and_being_moved_off_record_stage_time(
    connect: Connect, redis: Redis
) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await on_stage(connect, host, "cora")
    cody, cody_id = await on_stage(connect, host, "cody")
    await cora.send({"type": "stage_leave"})
    role = await host.recv_type("role")
    while role["participant"]["id"] != cora_id or role["participant"]["role"] != "member":
        role = await host.recv_type("role")
    await host.send({"type": "stage_move_off", "participant": cody_id})
    assert (await cody.recv_type("role"))["participant"]["role"] == "member"
    seconds = await events(redis, "stage_seconds", 2)
    assert sorted(e.member_id for e in seconds) == ["cody", "cora"]
    assert all(isinstance(e.data["seconds"], float) for e in seconds)


async def test_a_speaker_who_leaves_the_room_leaves_the_stage(
    connect: Connect, redis: Redis
) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, _ = await on_stage(connect, host, "cora")
    await cora.send({"type": "leave"})
    stage = await host.recv_type("stage")
    while stage["speakers"]:
        stage = await host.recv_type("stage")
    assert (await events(redis, "stage_seconds"))[0].member_id == "cora"


# --- mutes ----------------------------------------------------------------------------------


async def test_host_mutes_only_speakers_may_unmute_themselves(
    connect: Connect, redis: Redis, client: TestClient[Any, Any]
) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await on_stage(connect, host, "cora")
    await host.send({"type": "mute", "participant": cora_id})
    stage = await cora.recv_type("stage")
    while cora_id not in stage["muted"]:
        stage = await cora.recv_type("stage")
    assert live_room(client).media.is_muted(cora_id)  # type: ignore[arg-type]
    await host.send({"type": "unmute", "participant": cora_id})
    await expect_error(host, "forbidden", action="unmute_other", role="host")
    assert live_room(client).media.is_muted(cora_id)  # type: ignore[arg-type]
    await host.send({"type": "ask_unmute", "participant": cora_id})
    assert (await cora.recv_type("unmute_request"))["by"]["member_id"] == "host"
    await cora.send({"type": "unmute", "participant": cora_id})
    stage = await host.recv_type("stage")
    while cora_id in stage["muted"]:
        stage = await host.recv_type("stage")
    assert not live_room(client).media.is_muted(cora_id)  # type: ignore[arg-type]
    mutes = await events(redis, "mute", 2)
    assert [(e.data["muted"], e.data["by"]) for e in mutes] == [(True, "host"), (False, "cora")]


# --- the host's powers, forged by others ------------------------------------------------------

HOST_ONLY = [
    ("stage_invite", {}),
    ("hand_dismiss", {}),
    ("stage_move_off", {}),
    ("mute", {}),
    ("ask_unmute", {}),
    ("make_cohost", {}),
    ("remove", {}),
    ("remove", {"ban": True}),
]


@pytest.mark.parametrize(("kind", "extra"), HOST_ONLY)
@pytest.mark.parametrize("sender", ["member", "speaker"])
async def test_forged_host_messages_are_forbidden_and_change_nothing(
    connect: Connect,
    redis: Redis,
    client: TestClient[Any, Any],
    kind: str,
    extra: dict[str, Any],
    sender: str,
) -> None:
    host, _ = await joined(connect, "host", "host")
    target_ws, target = await on_stage(connect, host, "cora")
    await target_ws.send({"type": "hand_lower"})  # (a no-op: only to settle the socket)
    if sender == "speaker":
        forger, _ = await on_stage(connect, host, "cody")
    else:
        forger, forger_id = await joined(connect, "cody")
        await forger.send({"type": "hand_raise"})
        await eventually(
            lambda: live_room(client).stage.hand_raised(forger_id),  # type: ignore[arg-type]
            timeout=2,
            what="the forger's hand raised",
        )
    room = live_room(client)
    before = (
        {p.participant_id: p.role for p in room.participants},
        room.stage.seated,
        [h.participant_id for h in room.stage.hands],
        room.stage.invited,
    )
    await forger.send({"type": kind, "participant": target, "ref": "forged", **extra})
    reply = await expect_error(forger, "forbidden", role=sender)
    assert reply["ref"] == "forged"
    after = (
        {p.participant_id: p.role for p in room.participants},
        room.stage.seated,
        [h.participant_id for h in room.stage.hands],
        room.stage.invited,
    )
    assert after == before
    assert not room.media.is_muted(target)  # type: ignore[arg-type]
    assert await redis.smembers(bans_key(RoomId("vip"))) == set()


async def test_members_and_speakers_may_not_publish_what_they_are_not_allowed(
    connect: Connect,
) -> None:
    host, _ = await joined(connect, "host", "host")
    member, _ = await joined(connect, "ada")
    await member.send({"type": "offer", "pc": "pub", "sdp": VIDEO_OFFER})
    await expect_error(member, "forbidden", action="publish_audio", role="member")
    speaker, _ = await on_stage(connect, host, "cora")
    await speaker.send({"type": "offer", "pc": "pub", "sdp": VIDEO_OFFER})
    await expect_error(
        speaker, "forbidden", action="publish_video", role="speaker", case="in_this_room"
    )


async def test_only_members_raise_hands_and_only_invitees_reply(connect: Connect) -> None:
    host, _ = await joined(connect, "host", "host")
    await host.send({"type": "hand_raise"})
    await expect_error(host, "forbidden", action="raise_hand", role="host")
    speaker, _ = await on_stage(connect, host, "cora")
    await speaker.send({"type": "hand_raise"})
    await expect_error(speaker, "forbidden", action="raise_hand", role="speaker")
    await speaker.send({"type": "stage_reply", "accept": True})
    await expect_error(speaker, "forbidden", action="reply", role="speaker")
    await host.send({"type": "stage_leave"})
    await expect_error(host, "forbidden", action="leave_stage", role="host")


# --- the co-host ----------------------------------------------------------------------------


async def test_cohost_has_the_hosts_powers_except_over_the_host(
    connect: Connect, client: TestClient[Any, Any]
) -> None:
    host, host_id = await joined(connect, "host", "host")
    cody, cody_id = await joined(connect, "cody")
    cora, cora_id = await joined(connect, "cora")
    await host.send({"type": "make_cohost", "participant": cody_id})
    role = await cora.recv_type("role")
    assert (role["participant"]["id"], role["participant"]["role"]) == (cody_id, "cohost")
    assert "hands" in [(await cody.recv_type("hands"))["type"]]
    # Powers: invite, mute, move off.
    await cody.send({"type": "stage_invite", "participant": cora_id})
    await cora.recv_type("stage_self")
    await cora.send({"type": "stage_reply", "accept": True})
    await cora.recv_type("role")
    await cody.send({"type": "mute", "participant": cora_id})
    await cody.recv_type("stage")
    # Not over the host, and no appointing.
    for kind, params in [
        ("remove", {"action": "remove", "case": "on_host"}),
        ("mute", {"action": "mute_other", "case": "on_host"}),
        ("stage_move_off", {"action": "move_off", "case": "on_host"}),
        ("make_cohost", {"action": "make_cohost", "case": None}),
    ]:
        await cody.send({"type": kind, "participant": host_id})
        await expect_error(cody, "forbidden", role="cohost", **params)
    await host.send({"type": "make_cohost", "participant": cora_id})
    await expect_error(host, "invalid_state", case="cohost_taken")
    assert live_room(client).stage.cohost == cody_id
    # The co-host removes a member.
    await cody.send({"type": "remove", "participant": cora_id})
    await expect_error(cora, "removed", by="Cody", banned=False, case=None)
    assert await cora.closed_with() == 4410


# --- removal and bans -----------------------------------------------------------------------


async def test_ban_keeps_a_member_out_until_an_operator_lifts_it(
    connect: Connect, redis: Redis, client: TestClient[Any, Any]
) -> None:
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await joined(connect, "cora")
    # Told of the join first: a join and a leave within one presence interval cancel out.
    while cora_id not in [p["id"] for p in (await host.recv_type("presence"))["joined"]]:
        pass
    await host.send({"type": "remove", "participant": cora_id, "ban": True})
    await expect_error(cora, "removed", banned=True, case="banned")
    assert await cora.closed_with() == 4410
    presence = await host.recv_type("presence")
    while not presence["left"]:
        presence = await host.recv_type("presence")
    assert presence["left"] == [cora_id]
    assert await redis.smembers(bans_key(RoomId("vip"))) == {b"cora"}
    assert (await events(redis, "ban"))[0].data["by"] == "host"

    # A fresh token changes nothing.
    again = await connect()
    refused = await again.join(token("cora"))
    assert refused["code"] == "banned"
    assert refused["params"] == {"room_title": "VIP lounge"}
    assert await again.closed_with() == 4403

    listed = await (await client.get("/api/rooms/vip/bans", headers=AUTH)).json()
    assert listed == {"room_id": "vip", "banned": ["cora"]}
    lifted = await client.delete("/api/rooms/vip/bans/cora", headers=AUTH)
    assert lifted.status == 200
    assert (await client.delete("/api/rooms/vip/bans/cora", headers=AUTH)).status == 404
    back = await connect()
    assert (await back.join(token("cora")))["type"] == "joined"


async def test_a_removal_holds_for_the_rest_of_the_session(connect: Connect, redis: Redis) -> None:
    """Regression (issue 13): a removed (not banned) member reloaded and was straight back
    in the same session. Now the gate refuses them, fresh link included, until the session
    ends; the next session lets them in."""
    host, _ = await joined(connect, "host", "host")
    cora, cora_id = await joined(connect, "cora")
    await host.send({"type": "remove", "participant": cora_id})
    await expect_error(cora, "removed", by="Host", banned=False)
    assert await cora.closed_with() == 4410
    assert (await events(redis, "remove"))[0].member_id == "cora"
    assert await redis.keys("salon:{r:vip}:removed:*"), "kept under the room's hash tag"

    again = await connect()
    refused = await again.join(token("cora"))
    assert (refused["code"], refused["params"]) == (
        "removed",
        {"room_title": "VIP lounge", "case": "this_session"},
    )
    assert await again.closed_with() == 4403

    # The room empties: its session ends, and the next one admits her.
    await host.send({"type": "leave"})
    assert await host.closed_with() == 1000
    back = await connect()
    assert (await back.join(token("cora")))["type"] == "joined"


async def test_bad_targets_get_errors(connect: Connect) -> None:
    host, _ = await joined(connect, "host", "host")
    await host.send({"type": "stage_invite", "participant": "not an id"})
    await expect_error(host, "invalid_field", "'participant'")
    await host.send({"type": "stage_invite", "participant": "p999"})
    await expect_error(host, "not_found", id="p999", case="participant")
    await host.send({"type": "remove", "participant": "p999", "ban": "yes"})
    await expect_error(host, "invalid_field", "'ban'")
    await host.send({"type": "stage_reply"})
    await expect_error(host, "invalid_field", "'accept'")


async def test_a_listener_leaving_sends_no_stage_update(connect: Connect) -> None:
    """Regression: every leave broadcast `stage` (and `hands`) to the whole room, even when
    the one leaving had no hand, invite or seat: 1,000 leaves cost ~480k messages."""
    host, _ = await joined(connect, "host", role="host")
    listener, _ = await joined(connect, "cora")
    while (await host.recv_type("presence"))["count"] != 2:
        pass
    await listener.send({"type": "leave"})
    left = await host.recv_type("presence")
    assert left["left"] and left["count"] == 1
    await host.send({"type": "hand_lower", "ref": "probe"})  # any request: a reply marks the end
    while True:
        message = await host.recv()
        assert message["type"] not in ("stage", "hands"), message
        if message.get("ref") == "probe":
            break
