"""The gate's policy: tiers, invites, capacity, hosts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.engagement.members import Member, Tier
from server.ids import MemberId, RoomId
from server.rooms.errors import PrivateRoom, RoomFull, TierTooLow
from server.rooms.model import Role, RoomKind, RoomSpec
from server.rooms.policy import check_entry

ROOM = RoomSpec(
    RoomId("vip"),
    "VIP lounge",
    (Tier.CORE, Tier.ACTIVE),
    capacity=2,
    invites=frozenset({MemberId("guest")}),
)


def member(tier: Tier, member_id: str = "m") -> Member:
    return Member(MemberId(member_id), tier, member_id)


@pytest.mark.parametrize("tier", [Tier.CORE, Tier.ACTIVE])
def test_allowed_tiers_enter(tier: Tier) -> None:
    check_entry(ROOM, member(tier), Role.MEMBER, 0, MemberId("m"))


@pytest.mark.parametrize("tier", [Tier.POTENTIAL, Tier.SILENT])
def test_lower_tiers_are_refused_with_both_tiers_named(tier: Tier) -> None:
    with pytest.raises(TierTooLow) as caught:
        check_entry(ROOM, member(tier), Role.MEMBER, 0, MemberId("m"))
    assert caught.value.code == "tier_too_low"
    assert caught.value.params["allowed"] == ["core", "active"]
    assert caught.value.params["tier"] == tier.value


def test_invited_member_below_tier_enters() -> None:
    check_entry(ROOM, member(Tier.SILENT, "guest"), Role.MEMBER, 0, MemberId("guest"))


def test_full_room_refuses_even_invited_members() -> None:
    with pytest.raises(RoomFull) as caught:
        check_entry(ROOM, member(Tier.CORE, "guest"), Role.MEMBER, 2, MemberId("guest"))
    assert caught.value.params["capacity"] == 2


def test_hosts_always_enter() -> None:
    check_entry(ROOM, None, Role.HOST, 99, MemberId("host"))


@given(st.sampled_from(list(Tier)), st.integers(0, 5), st.booleans())
def test_decision_matches_the_rules(tier: Tier, occupants: int, invited: bool) -> None:
    who = member(tier, "guest" if invited else "m")
    should_enter = (invited or tier in ROOM.tiers) and occupants < ROOM.capacity
    try:
        check_entry(ROOM, who, Role.MEMBER, occupants, who.member_id)
        entered = True
    except (TierTooLow, RoomFull):
        entered = False
    assert entered == should_enter


PRIVATE = RoomSpec(
    RoomId("consult-c1"),
    "Consultation",
    (),
    capacity=2,
    invites=frozenset({MemberId("ada"), MemberId("advisor")}),
    kind=RoomKind.CONSULT,
)


@pytest.mark.parametrize(("who", "role"), [("ada", Role.MEMBER), ("advisor", Role.HOST)])
def test_a_private_room_admits_its_two_people(who: str, role: Role) -> None:
    check_entry(PRIVATE, member(Tier.ACTIVE, who), role, 0, MemberId(who))


@pytest.mark.parametrize("role", [Role.MEMBER, Role.HOST])
def test_a_private_room_refuses_anyone_else_even_a_host(role: Role) -> None:
    with pytest.raises(PrivateRoom):
        check_entry(PRIVATE, member(Tier.CORE, "cy"), role, 0, MemberId("cy"))
