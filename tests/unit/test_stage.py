"""Every stage permission rule and state change, as plain synchronous tests."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.engagement.members import Tier
from server.ids import MemberId, ParticipantId
from server.rooms.errors import Forbidden, StageConflict, StageFull
from server.rooms.model import Participant, Role
from server.rooms.stage import (
    ALLOWED,
    ON_STAGE,
    Action,
    Stage,
    check,
    check_publish,
)

CAP = 2
_ids = itertools.count(1)


def person(role: Role, name: str | None = None) -> Participant:
    n = next(_ids)
    return Participant(
        participant_id=ParticipantId(f"p{n}"),
        member_id=MemberId(f"m{n}"),
        name=name or f"Person {n}",
        role=role,
        tier=Tier.CORE,
        joined_at=0.0,
    )


def as_role(p: Participant, role: Role) -> Participant:
    from dataclasses import replace

    return replace(p, role=role)


HOST, COHOST, SPEAKER, MEMBER = Role.HOST, Role.COHOST, Role.SPEAKER, Role.MEMBER


# --- the role table ---------------------------------------------------------------------

EXPECTED: dict[Action, set[Role]] = {
    Action.RAISE_HAND: {MEMBER},
    Action.LOWER_HAND: {MEMBER},
    Action.REPLY: {MEMBER},
    Action.LEAVE_STAGE: {SPEAKER, COHOST},
    Action.INVITE: {HOST, COHOST},
    Action.DISMISS: {HOST, COHOST},
    Action.MOVE_OFF: {HOST, COHOST},
    Action.MUTE_OTHER: {HOST, COHOST},
    Action.MUTE_SELF: {HOST, COHOST, SPEAKER},
    Action.UNMUTE_SELF: {HOST, COHOST, SPEAKER},
    Action.UNMUTE_OTHER: set(),
    Action.ASK_UNMUTE: {HOST, COHOST},
    Action.MAKE_COHOST: {HOST},
    Action.REMOVE: {HOST, COHOST},
    Action.BAN: {HOST, COHOST},
    Action.PUBLISH_AUDIO: {HOST, COHOST, SPEAKER},
    Action.PUBLISH_VIDEO: {HOST},
}


def test_the_role_table_is_exactly_as_specified() -> None:
    assert set(ALLOWED) == set(Action)
    assert {a: set(r) for a, r in ALLOWED.items()} == EXPECTED


@pytest.mark.parametrize(("action", "role"), list(itertools.product(Action, Role)))
def test_check_allows_exactly_the_table(action: Action, role: Role) -> None:
    if role in EXPECTED[action]:
        check(action, role)
    else:
        with pytest.raises(Forbidden) as info:
            check(action, role)
        assert info.value.code == "forbidden"
        assert info.value.params == {"action": action.value, "role": role.value}


def test_forbidden_names_role_and_action_as_codes() -> None:
    with pytest.raises(Forbidden) as caught:
        check(Action.INVITE, MEMBER)
    assert caught.value.params == {"action": "invite", "role": "member"}
    with pytest.raises(Forbidden) as caught:
        check(Action.MAKE_COHOST, COHOST)
    assert caught.value.params == {"action": "make_cohost", "role": "cohost"}


# --- members: hands and invitations -----------------------------------------------------


def test_raise_and_lower_hand_keep_queue_order() -> None:
    stage = Stage()
    a, b = person(MEMBER), person(MEMBER)
    stage.raise_hand(b, 1.0, 5.0)
    stage.raise_hand(a, 2.0, None)
    stage.raise_hand(b, 3.0, 9.0)  # twice: stays first, score kept
    assert [(h.participant_id, h.score) for h in stage.hands] == [
        (b.participant_id, 5.0),
        (a.participant_id, None),
    ]
    stage.lower_hand(b)
    assert [h.participant_id for h in stage.hands] == [a.participant_id]


@pytest.mark.parametrize("role", [HOST, COHOST, SPEAKER])
def test_only_members_raise_hands(role: Role) -> None:
    stage = Stage()
    with pytest.raises(Forbidden):
        stage.raise_hand(person(role), 0.0, None)
    assert stage.hands == []


def test_invite_accept_makes_a_speaker_and_clears_the_hand() -> None:
    stage, host, member = Stage(), person(HOST), person(MEMBER)
    stage.raise_hand(member, 0.0, 1.0)
    stage.invite(host, member, CAP)
    assert stage.is_invited(member.participant_id)
    outcome = stage.reply(member, True, CAP, 10.0)
    assert outcome.roles == ((member.participant_id, SPEAKER),)
    assert stage.seated == [member.participant_id]
    assert not stage.hand_raised(member.participant_id)
    assert not stage.is_invited(member.participant_id)


def test_invite_without_a_raised_hand_and_decline() -> None:
    stage, cohost, member = Stage(), person(COHOST), person(MEMBER)
    stage.invite(cohost, member, CAP)
    assert stage.reply(member, False, CAP, 0.0).roles == ()
    assert not stage.is_invited(member.participant_id) and stage.seated == []


def test_reply_without_invitation_is_a_conflict() -> None:
    with pytest.raises(StageConflict) as caught:
        Stage().reply(person(MEMBER), True, CAP, 0.0)
    assert caught.value.params == {"case": "no_invitation"}


@pytest.mark.parametrize("role", [MEMBER, SPEAKER])
def test_non_moderators_cannot_invite(role: Role) -> None:
    stage = Stage()
    target = person(MEMBER)
    with pytest.raises(Forbidden):
        stage.invite(person(role), target, CAP)
    assert not stage.is_invited(target.participant_id)


@pytest.mark.parametrize("role", [SPEAKER, COHOST])
def test_inviting_someone_on_stage_is_a_conflict(role: Role) -> None:
    with pytest.raises(StageConflict) as caught:
        Stage().invite(person(HOST), person(role), CAP)
    assert caught.value.params["case"] == "already_on_stage"


def test_nobody_invites_the_host() -> None:
    with pytest.raises(Forbidden) as caught:
        Stage().invite(person(COHOST), person(HOST), CAP)
    assert caught.value.params["case"] == "on_host"


def seat(stage: Stage, host: Participant, member: Participant, now: float = 0.0) -> Participant:
    stage.invite(host, member, CAP)
    stage.reply(member, True, CAP, now)
    return as_role(member, SPEAKER)


def test_the_speaker_cap_holds_at_invite_and_at_accept() -> None:
    stage, host = Stage(), person(HOST)
    late = person(MEMBER)
    stage.invite(host, late, CAP)  # invited while there was room
    seat(stage, host, person(MEMBER))
    seat(stage, host, person(MEMBER))
    with pytest.raises(StageFull) as caught:
        stage.invite(host, person(MEMBER), CAP)
    assert caught.value.params == {"cap": 2}
    with pytest.raises(StageFull):
        stage.reply(late, True, CAP, 0.0)
    assert stage.is_invited(late.participant_id)  # refused: nothing changed
    assert stage.on_stage_count() == 2


def test_dismiss_lowers_hand_and_withdraws_invitation() -> None:
    stage, host, member = Stage(), person(HOST), person(MEMBER)
    stage.raise_hand(member, 0.0, None)
    stage.invite(host, member, CAP)
    stage.dismiss(host, member)
    assert not stage.hand_raised(member.participant_id)
    assert not stage.is_invited(member.participant_id)
    with pytest.raises(StageConflict) as caught:
        stage.dismiss(host, member)
    assert caught.value.params["case"] == "nothing_to_dismiss"
    with pytest.raises(Forbidden):
        stage.dismiss(person(MEMBER), member)


# --- leaving and moving off -------------------------------------------------------------


def test_leave_stage_ends_the_seat_with_its_time() -> None:
    stage, host = Stage(), person(HOST)
    speaker = seat(stage, host, person(MEMBER), now=10.0)
    outcome = stage.leave_stage(speaker, 25.5)
    assert outcome.roles == ((speaker.participant_id, MEMBER),)
    assert outcome.stage_time == ((speaker.participant_id, 15.5),)
    assert stage.seated == []


def test_members_and_hosts_cannot_leave_a_stage_they_are_not_on() -> None:
    for role in (MEMBER, HOST):
        with pytest.raises(Forbidden):
            Stage().leave_stage(person(role), 0.0)


def test_move_off_by_host_and_cohost_but_never_of_the_host() -> None:
    stage, host, cohost = Stage(), person(HOST), person(COHOST)
    speaker = seat(stage, host, person(MEMBER))
    assert stage.move_off(cohost, speaker, 5.0).roles == ((speaker.participant_id, MEMBER),)
    with pytest.raises(Forbidden) as caught:
        stage.move_off(cohost, host, 0.0)
    assert caught.value.params == {"action": "move_off", "role": "cohost", "case": "on_host"}
    with pytest.raises(StageConflict) as caught:
        stage.move_off(host, person(MEMBER), 0.0)
    assert caught.value.params["case"] == "not_on_stage"
    with pytest.raises(Forbidden):
        stage.move_off(person(SPEAKER), person(SPEAKER), 0.0)


# --- mutes ------------------------------------------------------------------------------


def test_host_mutes_a_speaker_and_cannot_unmute_them() -> None:
    stage, host = Stage(), person(HOST)
    speaker = seat(stage, host, person(MEMBER))
    assert stage.mute(host, speaker).mutes == ((speaker.participant_id, True),)
    assert stage.is_muted(speaker.participant_id)
    with pytest.raises(Forbidden) as caught:
        stage.unmute(host, speaker)
    assert caught.value.params["action"] == "unmute_other"
    assert stage.is_muted(speaker.participant_id)
    # The speaker may unmute themself, even after the host muted them.
    assert stage.unmute(speaker, speaker).mutes == ((speaker.participant_id, False),)


@pytest.mark.parametrize("role", [HOST, COHOST, SPEAKER])
def test_publishers_mute_and_unmute_themselves(role: Role) -> None:
    stage, me = Stage(), person(role)
    assert stage.mute(me, me).mutes == ((me.participant_id, True),)
    assert stage.mute(me, me).mutes == ()  # already muted: nothing to tell
    assert stage.unmute(me, me).mutes == ((me.participant_id, False),)


def test_members_have_no_microphone_to_mute() -> None:
    me = person(MEMBER)
    with pytest.raises(Forbidden):
        Stage().mute(me, me)


def test_mute_rules_for_others() -> None:
    stage, host, cohost = Stage(), person(HOST), person(COHOST)
    with pytest.raises(Forbidden) as caught:
        stage.mute(cohost, host)
    assert caught.value.params == {"action": "mute_other", "role": "cohost", "case": "on_host"}
    with pytest.raises(Forbidden):
        stage.mute(person(SPEAKER), person(SPEAKER))
    with pytest.raises(StageConflict):
        stage.mute(host, person(MEMBER))
    for role in (HOST, COHOST, SPEAKER, MEMBER):
        with pytest.raises(Forbidden):
            stage.unmute(person(role), person(SPEAKER))


def test_ask_unmute_only_for_a_muted_speaker() -> None:
    stage, host = Stage(), person(HOST)
    speaker = seat(stage, host, person(MEMBER))
    with pytest.raises(StageConflict) as caught:
        stage.ask_unmute(host, speaker)
    assert caught.value.params["case"] == "not_muted"
    stage.mute(host, speaker)
    stage.ask_unmute(host, speaker)
    with pytest.raises(Forbidden):
        stage.ask_unmute(person(MEMBER), speaker)


# --- co-host ----------------------------------------------------------------------------


def test_only_the_host_appoints_one_cohost() -> None:
    stage, host = Stage(), person(HOST)
    member, other = person(MEMBER), person(MEMBER)
    with pytest.raises(Forbidden):
        stage.make_cohost(person(COHOST), member, CAP, 0.0)
    with pytest.raises(Forbidden):
        stage.make_cohost(person(MEMBER), member, CAP, 0.0)
    assert stage.make_cohost(host, member, CAP, 0.0).roles == ((member.participant_id, COHOST),)
    assert stage.cohost == member.participant_id
    assert member.participant_id in stage.seated  # on stage: counts against the cap
    with pytest.raises(StageConflict) as caught:
        stage.make_cohost(host, other, CAP, 0.0)
    assert caught.value.params == {"case": "cohost_taken"}
    # Moved off the stage, the co-host is a member again and the place is free.
    stage.move_off(host, as_role(member, COHOST), 1.0)
    assert stage.cohost is None
    stage.make_cohost(host, other, CAP, 1.0)


def test_cohost_from_a_speaker_keeps_the_seat_and_a_full_stage_refuses_a_member() -> None:
    stage, host = Stage(), person(HOST)
    first = seat(stage, host, person(MEMBER), now=3.0)
    seat(stage, host, person(MEMBER))
    with pytest.raises(StageFull):
        stage.make_cohost(host, person(MEMBER), CAP, 0.0)
    stage.make_cohost(host, first, CAP, 9.0)
    assert stage.leave_stage(as_role(first, COHOST), 10.0).stage_time == (
        (first.participant_id, 7.0),
    )


# --- removal and bans -------------------------------------------------------------------


@pytest.mark.parametrize("ban", [False, True])
def test_removal_rules(ban: bool) -> None:
    stage, host, cohost = Stage(), person(HOST), person(COHOST)
    stage.check_remove(host, cohost, ban)
    stage.check_remove(cohost, person(SPEAKER), ban)
    stage.check_remove(host, person(MEMBER), ban)
    with pytest.raises(Forbidden) as caught:
        stage.check_remove(cohost, host, ban)
    assert caught.value.params["case"] == "on_host"
    with pytest.raises(StageConflict) as caught:
        stage.check_remove(host, host, ban)
    assert caught.value.params == {"case": "remove_self"}
    for role in (SPEAKER, MEMBER):
        with pytest.raises(Forbidden):
            stage.check_remove(person(role), person(MEMBER), ban)


def test_forget_clears_everything_and_reports_stage_time() -> None:
    stage, host = Stage(), person(HOST)
    speaker = seat(stage, host, person(MEMBER), now=1.0)
    stage.mute(host, speaker)
    waiting = person(MEMBER)
    stage.raise_hand(waiting, 0.0, None)
    stage.invite(host, waiting, CAP)
    assert stage.forget(speaker.participant_id, 4.0).stage_time == ((speaker.participant_id, 3.0),)
    assert stage.forget(waiting.participant_id, 4.0).stage_time == ()
    assert (stage.seated, stage.hands, stage.invited) == ([], [], [])
    assert not stage.is_muted(speaker.participant_id)


# --- publishing -------------------------------------------------------------------------


def test_publish_rules() -> None:
    check_publish(HOST, ["audio", "video"], cameras_allowed=False)
    for role in (SPEAKER, COHOST):
        check_publish(role, ["audio"], cameras_allowed=False)
        check_publish(role, ["audio", "video"], cameras_allowed=True)
        with pytest.raises(Forbidden) as caught:
            check_publish(role, ["audio", "video"], cameras_allowed=False)
        assert caught.value.params == {
            "action": "publish_video",
            "role": role.value,
            "case": "in_this_room",
        }
    with pytest.raises(Forbidden) as caught:
        check_publish(MEMBER, ["audio"], cameras_allowed=True)
    assert caught.value.params == {"action": "publish_audio", "role": "member"}


# --- invariants under any sequence ------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["raise", "invite", "accept", "decline", "leave", "move"]),
        st.integers(0, 3),
    ),
    max_size=40,
)


@given(ops=OPS)
def test_the_cap_and_seats_hold_under_any_sequence(ops: list[tuple[str, int]]) -> None:
    """Whatever members and the host do, seats never exceed the cap, and the roles the
    outcomes hand out always match the stage's seats."""
    stage, host = Stage(), person(HOST)
    people = {p.participant_id: p for p in (person(MEMBER) for _ in range(4))}
    order = list(people)
    for op, index in ops:
        who = people[order[index]]
        try:
            if op == "raise":
                outcome = stage.raise_hand(who, 0.0, None)
            elif op == "invite":
                outcome = stage.invite(host, who, CAP)
            elif op in ("accept", "decline"):
                outcome = stage.reply(who, op == "accept", CAP, 0.0)
            elif op == "leave":
                outcome = stage.leave_stage(who, 0.0)
            else:
                outcome = stage.move_off(host, who, 0.0)
        except (Forbidden, StageConflict, StageFull):
            continue
        for pid, role in outcome.roles:
            people[pid] = as_role(people[pid], role)
        assert stage.on_stage_count() <= CAP
        assert {pid for pid, p in people.items() if p.role in ON_STAGE} == set(stage.seated)
