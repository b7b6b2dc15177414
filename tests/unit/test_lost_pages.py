"""The leaves of pages lost with their node (issue 11 c), pure parts: one id per
participant and session whoever records it, the time of the dead owner's last sign of
life (never before the join), the role the stage gave or the page joined as."""

from __future__ import annotations

from server.ids import MemberId, RoomId
from server.rooms.lost_pages import leave_event_id, lost_leaves
from server.rooms.model import Role
from server.rooms.whereabouts import Whereabout

TTL_MS = 3000
BEAT_MS = 2000
NOW = 1_000_000


def entry(participant: str, joined: int, node: str = "node-0", role: str = "") -> Whereabout:
    return Whereabout(RoomId("vip"), "s1", node, 5, participant, joined, role)


def test_a_leave_id_depends_on_the_session_and_the_participant_only() -> None:
    assert leave_event_id("s1", "p1") == leave_event_id("s1", "p1")
    assert len({leave_event_id("s1", "p1"), leave_event_id("s1", "p2"),
                leave_event_id("s2", "p1")}) == 3  # fmt: skip


def test_a_leave_is_timed_at_the_lease_renewal_or_a_beat_after_the_last_heartbeat() -> None:
    entries = [(MemberId("ada"), entry("p1", 900_000)), (MemberId("cora"), entry("p2", 990_000))]
    # Beating until the lease's last renewal (taken as it ran out): the renewal.
    heard = lost_leaves(entries, {}, {"node-0": 996_500}, NOW, TTL_MS, BEAT_MS)
    assert [leave.at_ms for leave in heard] == [NOW - TTL_MS, NOW - TTL_MS]
    # Silent long before (taken long after): a beat after its last heartbeat, and never
    # before the join (cora joined after it: no negative watch time).
    early = lost_leaves(entries, {}, {"node-0": 948_000}, NOW, TTL_MS, BEAT_MS)
    assert [leave.at_ms for leave in early] == [950_000, 990_000]
    assert [leave.watch_seconds for leave in early] == [50.0, 0.0]
    unknown = lost_leaves(entries[:1], {}, {}, NOW, TTL_MS, BEAT_MS)
    assert unknown[0].at_ms == NOW - TTL_MS


def test_the_role_is_the_stage_role_else_the_one_joined_as() -> None:
    entries = [
        (MemberId("ada"), entry("p1", 1, role="member")),
        (MemberId("host"), entry("p2", 1, role="host")),
        (MemberId("cora"), entry("p3", 1)),
    ]
    leaves = lost_leaves(entries, {MemberId("ada"): Role.COHOST}, {}, NOW, TTL_MS, BEAT_MS)
    assert [leave.role for leave in leaves] == ["cohost", "host", "member"]
