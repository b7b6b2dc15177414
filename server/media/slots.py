"""The slot table of a room's media: who publishes what, who sees which slot, who is muted.

Pure and synchronous, like ``server/rooms/stage.py``'s ``Stage``: no aiortc, no tasks.
``RoomMedia`` asks it what to do and applies the answer to feeds and transceivers.

- The host's camera and microphone are the room's *main* feeds; ``publisher`` names who
  feeds them (``set_publisher`` / ``clear_publisher`` say whether that changed).
- Each speaker's published track takes a *stage slot* of its kind: the lowest free index.
  A subscriber's offer has one m-line per slot; ``sources_for`` says which publisher each
  of its slot m-lines shows (None: nobody, or the subscriber itself: ``inactive``).
- Mutes: a muted participant's microphone is dropped, now and when it publishes later.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.ids import ParticipantId

KINDS = ("audio", "video")


@dataclass(frozen=True)
class SlotChange:
    """``participant`` took (``taken``) or left slot ``slot`` of ``kind``."""

    participant: ParticipantId
    kind: str
    slot: int
    taken: bool


class SlotTable:
    """Publishers, stage slots and mutes of one room."""

    def __init__(self) -> None:
        self.publisher: ParticipantId | None = None
        self._slots: dict[str, list[ParticipantId | None]] = {kind: [] for kind in KINDS}
        self._muted: set[ParticipantId] = set()

    # --- the main feeds -----------------------------------------------------------------

    def set_publisher(self, participant: ParticipantId) -> bool:
        """``participant`` feeds the main feeds; True if that is a change."""
        changed = self.publisher != participant
        self.publisher = participant
        return changed

    def clear_publisher(self, participant: ParticipantId | None = None) -> bool:
        """Nobody feeds the main feeds (only if ``participant`` did, when given);
        True if there was a publisher."""
        if self.publisher is None or (participant is not None and self.publisher != participant):
            return False
        self.publisher = None
        return True

    # --- stage slots --------------------------------------------------------------------

    def occupy(self, participant: ParticipantId, kind: str) -> SlotChange:
        """Give ``participant``'s ``kind`` track a slot (the lowest free), leaving any it had."""
        self.vacate(participant, kind)
        slots = self._slots[kind]
        slot = slots.index(None) if None in slots else len(slots)
        if slot == len(slots):
            slots.append(participant)
        else:
            slots[slot] = participant
        return SlotChange(participant, kind, slot, taken=True)

    def vacate(self, participant: ParticipantId, kind: str) -> SlotChange | None:
        """Free ``participant``'s slot of ``kind``; trailing free slots are dropped."""
        slots = self._slots[kind]
        slot = self.slot_of(participant, kind)
        if slot is None:
            return None
        slots[slot] = None
        while slots and slots[-1] is None:
            slots.pop()
        return SlotChange(participant, kind, slot, taken=False)

    def slot_of(self, participant: ParticipantId, kind: str) -> int | None:
        slots = self._slots[kind]
        return slots.index(participant) if participant in slots else None

    def sources_for(
        self, subscriber: ParticipantId, kind: str, count: int
    ) -> list[ParticipantId | None]:
        """Whom each of ``subscriber``'s first ``count`` slot m-lines of ``kind`` shows
        (None: nobody is there, or it is the subscriber's own track)."""
        slots = self._slots[kind]
        out: list[ParticipantId | None] = []
        for slot in range(count):
            who = slots[slot] if slot < len(slots) else None
            out.append(None if who == subscriber else who)
        return out

    def tracks_json(self) -> dict[str, list[str | None]]:
        """Who is in each stage slot, per kind (what a subscriber's offer must cover)."""
        return {kind: [str(p) if p else None for p in slots] for kind, slots in self._slots.items()}

    # --- mutes --------------------------------------------------------------------------

    def set_muted(self, participant: ParticipantId, muted: bool) -> None:
        if muted:
            self._muted.add(participant)
        else:
            self._muted.discard(participant)

    def is_muted(self, participant: ParticipantId) -> bool:
        return participant in self._muted

    def drops(self, participant: ParticipantId | None, kind: str) -> bool:
        """Whether a feed of ``kind`` published by ``participant`` must drop its media."""
        return kind == "audio" and participant is not None and participant in self._muted

    def forget(self, participant: ParticipantId) -> None:
        """``participant`` left the room: their mute goes with them."""
        self._muted.discard(participant)
