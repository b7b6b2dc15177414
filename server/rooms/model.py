"""Plain room and participant data: definitions, roles, and the participant record."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from server.engagement.members import Tier
from server.ids import MemberId, ParticipantId, RoomId

# Room ids of private consultation rooms (server/consult/): operators cannot make one.
CONSULT_PREFIX = "consult-"


class RoomKind(StrEnum):
    """A ``live`` room is the host's session; a ``consult`` room is a private 1:1 call
    (server/consult/): only its invited member ids enter, hosts included, and its member
    enters on the stage (both people publish camera and microphone)."""

    LIVE = "live"
    CONSULT = "consult"


class Role(StrEnum):
    HOST = "host"
    # Granted in the room by the host (tokens mint only host or member): see rooms/stage.py.
    COHOST = "cohost"
    SPEAKER = "speaker"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """A room's definition as operators create it; stored in Redis."""

    room_id: RoomId
    title: str
    tiers: tuple[Tier, ...]
    capacity: int = 50
    invites: frozenset[MemberId] = field(default_factory=frozenset)
    # The stage: at most this many speakers besides the host (a co-host counts as one),
    # and whether they may publish a camera as well as a microphone.
    speaker_cap: int = 6
    speaker_cameras: bool = False
    # The operator's next step for people the room turns away (a membership page, an open
    # room): an http(s) address the refusal page links to, or "" for none.
    refusal_link: str = ""
    kind: RoomKind = RoomKind.LIVE

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.room_id,
            "title": self.title,
            "tiers": [t.value for t in self.tiers],
            "capacity": self.capacity,
            "invites": sorted(self.invites),
            "speaker_cap": self.speaker_cap,
            "speaker_cameras": self.speaker_cameras,
        }
        if self.refusal_link:
            out["refusal_link"] = self.refusal_link
        if self.kind is not RoomKind.LIVE:
            out["kind"] = self.kind.value
        return out


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone in a live room: who, as what, with which tier at entry."""

    participant_id: ParticipantId
    member_id: MemberId
    name: str
    role: Role
    tier: Tier | None
    joined_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.participant_id,
            "member_id": self.member_id,
            "name": self.name,
            "role": self.role.value,
            "tier": self.tier.value if self.tier else None,
        }
