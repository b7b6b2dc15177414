"""The resume rule and token (server/rooms/resume.py), and the stage's ``reseat``: pure."""

from __future__ import annotations

import pytest

from server.ids import MemberId, ParticipantId, RoomId
from server.rooms.errors import StageConflict
from server.rooms.model import Participant, Role
from server.rooms.resume import Away, ResumeCode, Resumed, decide, resume_token, token_matches
from server.rooms.stage import Stage

GRACE = 30_000
VIP, CORA, SESSION = RoomId("vip"), MemberId("cora"), "s1"


def test_the_token_is_bound_to_secret_room_member_and_session() -> None:
    tok = resume_token("secret", VIP, CORA, SESSION)
    assert tok.startswith("r1.") and len(tok) <= 64
    assert (CORA not in tok and SESSION not in tok[3:]) or len(tok) == 46
    assert token_matches("secret", tok, VIP, CORA, SESSION)
    for args in [
        ("other", tok, VIP, CORA, SESSION),
        ("secret", tok, RoomId("x"), CORA, SESSION),
        ("secret", tok, VIP, MemberId("cody"), SESSION),
        ("secret", tok, VIP, CORA, "s2"),
        ("secret", tok[:-1] + ("A" if tok[-1] != "A" else "B"), VIP, CORA, SESSION),
    ]:
        assert not token_matches(*args)


@pytest.mark.parametrize(
    ("token_role", "away", "stage_role", "expected"),
    [
        # Within the grace period: the stage role, or the host's live feed, comes back.
        (Role.MEMBER, Away(0, False), Role.SPEAKER, Resumed(ResumeCode.RESUMED, Role.SPEAKER)),
        (Role.MEMBER, Away(0, False), Role.COHOST, Resumed(ResumeCode.RESUMED, Role.COHOST)),
        # A mute survives the reload.
        (
            Role.MEMBER,
            Away(0, False, muted=True),
            Role.SPEAKER,
            Resumed(ResumeCode.RESUMED, Role.SPEAKER, muted=True),
        ),
        (Role.HOST, Away(0, True), None, Resumed(ResumeCode.RESUMED, Role.HOST, live=True)),
        # The host cleared the role meanwhile (moved off): what they are now.
        (Role.MEMBER, Away(0, False), None, Resumed(ResumeCode.NOTHING, Role.MEMBER)),
        # Nothing kept at all.
        (Role.MEMBER, None, Role.SPEAKER, Resumed(ResumeCode.NOTHING, Role.MEMBER)),
        # Too late.
        (Role.MEMBER, Away(-1, False), Role.SPEAKER, Resumed(ResumeCode.EXPIRED, Role.MEMBER)),
        (Role.HOST, Away(-1, True), None, Resumed(ResumeCode.EXPIRED, Role.HOST)),
    ],
)
def test_decide(
    token_role: Role, away: Away | None, stage_role: Role | None, expected: Resumed
) -> None:
    assert decide(token_role, away, stage_role, now_ms=GRACE, grace_ms=GRACE) == expected


def test_ok_in_json_says_whether_the_token_was_good() -> None:
    assert Resumed(ResumeCode.NOTHING, Role.MEMBER).to_json()["ok"] is True
    for code in (ResumeCode.INVALID, ResumeCode.EXPIRED, ResumeCode.NO_PLACE):
        assert Resumed(code, Role.MEMBER).to_json()["ok"] is False


def _person(pid: str, role: Role) -> Participant:
    return Participant(ParticipantId(pid), MemberId(pid), pid, role, None, 0.0)


def test_reseat_takes_a_free_seat_and_the_free_cohost_place_only() -> None:
    stage = Stage()
    assert stage.reseat(ParticipantId("a"), Role.SPEAKER, cap=2, now=0.0, muted=True)
    assert stage.seated == ["a"] and stage.is_muted(ParticipantId("a"))
    assert not stage.reseat(ParticipantId("a"), Role.SPEAKER, cap=2, now=0.0)  # seated
    assert not stage.reseat(ParticipantId("m"), Role.MEMBER, cap=2, now=0.0)
    assert stage.reseat(ParticipantId("b"), Role.COHOST, cap=2, now=0.0)
    assert stage.cohost == "b"
    assert not stage.reseat(ParticipantId("c"), Role.SPEAKER, cap=2, now=0.0)  # full
    stage.forget(ParticipantId("a"), 1.0)
    assert not stage.reseat(ParticipantId("c"), Role.COHOST, cap=2, now=1.0)  # taken
    assert stage.seated == ["b"]
    host = _person("h", Role.HOST)
    # A reseated co-host is a co-host for every rule: the host may not name a second.
    with pytest.raises(StageConflict):
        stage.make_cohost(host, _person("c", Role.MEMBER), cap=3, now=1.0)
