"""The stage of a live room: who may do what to whom, and the state roles do not hold.

Roles live on the room's participants (``Participant.role``); this module owns the rest
of the stage — the queue of raised hands, pending invitations, seats (who is on stage
and since when) and mutes — and every permission rule. It is pure and synchronous:
each ``Stage`` method checks everything first, then changes state, and returns an
``Outcome`` saying which roles the caller must change and whose stage time ended. A
refusal raises a ``RoomError`` and changes nothing.

Roles: the host (from the token), one co-host the host may appoint (the host's powers
except acting on the host or appointing), speakers (on stage: publish a microphone,
a camera when the room allows it) and members (listen and watch). "On stage" means
speaker or co-host; the room's ``speaker_cap`` counts them (the host is not counted).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from server.ids import ParticipantId
from server.rooms.errors import Forbidden, StageConflict, StageFull
from server.rooms.model import Participant, Role
from server.rooms.moderation import MODERATORS

ON_STAGE = frozenset({Role.COHOST, Role.SPEAKER})
PUBLISHERS = frozenset({Role.HOST, Role.COHOST, Role.SPEAKER})


class Action(StrEnum):
    """Every stage action, as the code a ``Forbidden`` carries (the catalogs say it in words)."""

    RAISE_HAND = "raise_hand"
    LOWER_HAND = "lower_hand"
    REPLY = "reply"
    LEAVE_STAGE = "leave_stage"
    INVITE = "invite"
    DISMISS = "dismiss"
    MOVE_OFF = "move_off"
    MUTE_OTHER = "mute_other"
    MUTE_SELF = "mute_self"
    UNMUTE_SELF = "unmute_self"
    UNMUTE_OTHER = "unmute_other"
    ASK_UNMUTE = "ask_unmute"
    MAKE_COHOST = "make_cohost"
    REMOVE = "remove"
    BAN = "ban"
    PUBLISH_AUDIO = "publish_audio"
    PUBLISH_VIDEO = "publish_video"


# Which roles may attempt each action at all. Rules about the target come on top.
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.RAISE_HAND: frozenset({Role.MEMBER}),
    Action.LOWER_HAND: frozenset({Role.MEMBER}),
    Action.REPLY: frozenset({Role.MEMBER}),
    Action.LEAVE_STAGE: ON_STAGE,
    Action.INVITE: MODERATORS,
    Action.DISMISS: MODERATORS,
    Action.MOVE_OFF: MODERATORS,
    Action.MUTE_OTHER: MODERATORS,
    Action.MUTE_SELF: PUBLISHERS,
    Action.UNMUTE_SELF: PUBLISHERS,
    Action.UNMUTE_OTHER: frozenset(),
    Action.ASK_UNMUTE: MODERATORS,
    Action.MAKE_COHOST: frozenset({Role.HOST}),
    Action.REMOVE: MODERATORS,
    Action.BAN: MODERATORS,
    Action.PUBLISH_AUDIO: PUBLISHERS,
    Action.PUBLISH_VIDEO: frozenset({Role.HOST}),
}


def check(action: Action, actor: Role) -> None:
    """Raise ``Forbidden`` unless ``actor``'s role may attempt ``action``."""
    if actor not in ALLOWED[action]:
        raise Forbidden(action.value, actor.value)


def check_target(action: Action, actor: Participant, target: Participant) -> None:
    """The rules about whom a moderator acts on (after ``check``)."""
    if target.role is Role.HOST and actor.participant_id != target.participant_id:
        # Nobody acts on the host: the co-host's powers stop there.
        raise Forbidden(action.value, actor.role.value, case="on_host")


def _check_on_stage(action: Action, actor: Participant, target: Participant) -> None:
    """``check`` and ``check_target``, then: ``target`` must be on the stage."""
    check(action, actor.role)
    check_target(action, actor, target)
    if target.role not in ON_STAGE:
        raise StageConflict("not_on_stage", target.name)


def check_publish(role: Role, kinds: Collection[str], cameras_allowed: bool) -> None:
    """Raise ``Forbidden`` unless ``role`` may publish media of these ``kinds``."""
    check(Action.PUBLISH_AUDIO, role)
    if "video" in kinds and not (cameras_allowed or role is Role.HOST):
        raise Forbidden(Action.PUBLISH_VIDEO.value, role.value, case="in_this_room")


@dataclass(frozen=True, slots=True)
class Hand:
    participant_id: ParticipantId
    raised_at: float
    # The member's engagement score when the hand went up (None: could not be read).
    score: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action changed that the stage itself does not own."""

    # New roles to set on the room's participants, in order.
    roles: tuple[tuple[ParticipantId, Role], ...] = ()
    # Seats that ended: (participant, seconds on stage).
    stage_time: tuple[tuple[ParticipantId, float], ...] = ()
    # Participants whose microphone was muted (True) or unmuted (False).
    mutes: tuple[tuple[ParticipantId, bool], ...] = ()


NOTHING = Outcome()


class Stage:
    """The stage state of one live room (see the module docstring)."""

    def __init__(self) -> None:
        self._hands: dict[ParticipantId, Hand] = {}
        self._invites: dict[ParticipantId, ParticipantId] = {}  # invitee -> who invited
        self._seats: dict[ParticipantId, float] = {}  # on stage since (monotonic)
        self._muted: set[ParticipantId] = set()
        self._cohost: ParticipantId | None = None

    # --- reading ------------------------------------------------------------------------

    @property
    def hands(self) -> list[Hand]:
        """Raised hands, first raised first."""
        return list(self._hands.values())

    @property
    def invited(self) -> list[ParticipantId]:
        return list(self._invites)

    @property
    def seated(self) -> list[ParticipantId]:
        return list(self._seats)

    @property
    def cohost(self) -> ParticipantId | None:
        return self._cohost

    def hand_raised(self, participant: ParticipantId) -> bool:
        return participant in self._hands

    def is_invited(self, participant: ParticipantId) -> bool:
        return participant in self._invites

    def is_muted(self, participant: ParticipantId) -> bool:
        return participant in self._muted

    def on_stage_count(self) -> int:
        return len(self._seats)

    # --- member actions -----------------------------------------------------------------

    def raise_hand(self, actor: Participant, now: float, score: float | None) -> Outcome:
        check(Action.RAISE_HAND, actor.role)
        if actor.participant_id not in self._hands:
            self._hands[actor.participant_id] = Hand(actor.participant_id, now, score)
        return NOTHING

    def lower_hand(self, actor: Participant) -> Outcome:
        check(Action.LOWER_HAND, actor.role)
        self._hands.pop(actor.participant_id, None)
        return NOTHING

    def reply(self, actor: Participant, accept: bool, cap: int, now: float) -> Outcome:
        """The invitee accepts (goes on stage as a speaker) or declines."""
        check(Action.REPLY, actor.role)
        pid = actor.participant_id
        if pid not in self._invites:
            raise StageConflict("no_invitation")
        if accept and len(self._seats) >= cap:
            raise StageFull(cap)
        del self._invites[pid]
        if not accept:
            return NOTHING
        self._hands.pop(pid, None)
        self._seats[pid] = now
        return Outcome(roles=((pid, Role.SPEAKER),))

    def leave_stage(self, actor: Participant, now: float) -> Outcome:
        check(Action.LEAVE_STAGE, actor.role)
        return self._unseat(actor.participant_id, now)

    def mute_self(self, actor: Participant, muted: bool) -> Outcome:
        check(Action.MUTE_SELF if muted else Action.UNMUTE_SELF, actor.role)
        return self._set_muted(actor.participant_id, muted)

    # --- moderator actions --------------------------------------------------------------

    def invite(self, actor: Participant, target: Participant, cap: int) -> Outcome:
        check(Action.INVITE, actor.role)
        check_target(Action.INVITE, actor, target)
        if target.role is not Role.MEMBER:
            raise StageConflict("already_on_stage", target.name)
        if len(self._seats) >= cap:
            raise StageFull(cap)
        self._invites[target.participant_id] = actor.participant_id
        return NOTHING

    def dismiss(self, actor: Participant, target: Participant) -> Outcome:
        """Lower ``target``'s hand and withdraw any invitation to them."""
        check(Action.DISMISS, actor.role)
        check_target(Action.DISMISS, actor, target)
        pid = target.participant_id
        if pid not in self._hands and pid not in self._invites:
            raise StageConflict("nothing_to_dismiss", target.name)
        self._hands.pop(pid, None)
        self._invites.pop(pid, None)
        return NOTHING

    def move_off(self, actor: Participant, target: Participant, now: float) -> Outcome:
        _check_on_stage(Action.MOVE_OFF, actor, target)
        return self._unseat(target.participant_id, now)

    def mute(self, actor: Participant, target: Participant) -> Outcome:
        if actor.participant_id == target.participant_id:
            return self.mute_self(actor, True)
        _check_on_stage(Action.MUTE_OTHER, actor, target)
        return self._set_muted(target.participant_id, True)

    def unmute(self, actor: Participant, target: Participant) -> Outcome:
        if actor.participant_id == target.participant_id:
            return self.mute_self(actor, False)
        # Nobody turns on someone else's microphone: a moderator asks instead.
        check(Action.UNMUTE_OTHER, actor.role)
        return NOTHING  # pragma: no cover - UNMUTE_OTHER is allowed to nobody

    def ask_unmute(self, actor: Participant, target: Participant) -> Outcome:
        check(Action.ASK_UNMUTE, actor.role)
        check_target(Action.ASK_UNMUTE, actor, target)
        if target.role not in ON_STAGE or target.participant_id not in self._muted:
            raise StageConflict("not_muted", target.name)
        return NOTHING

    def make_cohost(self, actor: Participant, target: Participant, cap: int, now: float) -> Outcome:
        check(Action.MAKE_COHOST, actor.role)
        check_target(Action.MAKE_COHOST, actor, target)
        if self._cohost is not None:
            raise StageConflict("cohost_taken")
        if target.role not in (Role.MEMBER, Role.SPEAKER):
            raise StageConflict("cannot_cohost", target.name)
        pid = target.participant_id
        if target.role is Role.MEMBER and len(self._seats) >= cap:
            raise StageFull(cap)
        self._hands.pop(pid, None)
        self._invites.pop(pid, None)
        self._seats.setdefault(pid, now)
        self._cohost = pid
        return Outcome(roles=((pid, Role.COHOST),))

    def reseat(
        self, pid: ParticipantId, role: Role, cap: int, now: float, muted: bool = False
    ) -> bool:
        """Seat a page coming back with its stage ``role`` (``server.rooms.resume``), muted
        if it was: False, changing nothing, when the stage has no place for it now."""
        if role not in ON_STAGE or pid in self._seats or len(self._seats) >= cap:
            return False
        if role is Role.COHOST:
            if self._cohost is not None:
                return False
            self._cohost = pid
        self._hands.pop(pid, None)
        self._invites.pop(pid, None)
        self._seats[pid] = now
        if muted:
            self._muted.add(pid)
        return True

    def check_remove(self, actor: Participant, target: Participant, ban: bool) -> None:
        """Raise unless ``actor`` may remove (and ban) ``target``; changes nothing.

        Removal itself is the room's business (``forget`` runs as the target leaves):
        a ban is written to Redis between the check and the removal.
        """
        check(Action.BAN if ban else Action.REMOVE, actor.role)
        check_target(Action.BAN if ban else Action.REMOVE, actor, target)
        if actor.participant_id == target.participant_id:
            raise StageConflict("remove_self")

    # --- bookkeeping --------------------------------------------------------------------

    def knows(self, participant: ParticipantId) -> bool:
        """Whether the stage holds anything about ``participant`` (hand, invite, seat…)."""
        return (
            participant in self._hands
            or participant in self._invites
            or participant in self._muted
            or participant in self._seats
            or self._cohost == participant
        )

    def forget(self, participant: ParticipantId, now: float) -> Outcome:
        """``participant`` left the room: drop everything about them, end their seat."""
        self._hands.pop(participant, None)
        self._invites.pop(participant, None)
        self._muted.discard(participant)
        if self._cohost == participant:
            self._cohost = None
        since = self._seats.pop(participant, None)
        if since is None:
            return NOTHING
        return Outcome(stage_time=((participant, max(0.0, now - since)),))

    def _unseat(self, pid: ParticipantId, now: float) -> Outcome:
        since = self._seats.pop(pid, now)
        self._muted.discard(pid)
        if self._cohost == pid:
            self._cohost = None
        return Outcome(
            roles=((pid, Role.MEMBER),),
            stage_time=((pid, max(0.0, now - since)),),
        )

    def _set_muted(self, pid: ParticipantId, muted: bool) -> Outcome:
        if muted == (pid in self._muted):
            return NOTHING
        if muted:
            self._muted.add(pid)
        else:
            self._muted.discard(pid)
        return Outcome(mutes=((pid, muted),))
