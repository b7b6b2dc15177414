"""The media slot table (``server/media/slots.py``): pure, no aiortc."""

from __future__ import annotations

from server.ids import ParticipantId
from server.media.slots import SlotChange, SlotTable

A, B, C = ParticipantId("a"), ParticipantId("b"), ParticipantId("c")


def test_speakers_take_the_lowest_free_slot_and_trailing_free_slots_go() -> None:
    table = SlotTable()
    assert table.occupy(A, "audio") == SlotChange(A, "audio", 0, taken=True)
    assert table.occupy(B, "audio").slot == 1
    assert table.occupy(C, "audio").slot == 2
    assert table.vacate(B, "audio") == SlotChange(B, "audio", 1, taken=False)
    assert table.tracks_json()["audio"] == ["a", None, "c"]
    assert table.occupy(B, "audio").slot == 1  # the hole is reused
    table.vacate(C, "audio")
    table.vacate(B, "audio")
    assert table.tracks_json() == {"audio": ["a"], "video": []}
    assert table.vacate(B, "audio") is None  # nothing to free: no change


def test_publishing_again_moves_a_speaker_to_the_lowest_free_slot() -> None:
    table = SlotTable()
    table.occupy(A, "video")
    table.occupy(B, "video")
    table.vacate(A, "video")
    assert table.occupy(B, "video").slot == 0
    assert table.tracks_json()["video"] == ["b"]


def test_a_subscriber_never_sees_its_own_slot_and_missing_slots_are_empty() -> None:
    table = SlotTable()
    table.occupy(A, "audio")
    table.occupy(B, "audio")
    assert table.sources_for(A, "audio", 3) == [None, B, None]
    assert table.sources_for(C, "audio", 1) == [A]
    assert table.sources_for(C, "video", 2) == [None, None]


def test_mutes_drop_audio_only_and_leave_with_the_participant() -> None:
    table = SlotTable()
    table.set_muted(A, True)
    assert table.is_muted(A)
    assert table.drops(A, "audio")
    assert not table.drops(A, "video")
    assert not table.drops(B, "audio")
    assert not table.drops(None, "audio")
    table.forget(A)
    assert not table.is_muted(A)
    table.set_muted(B, True)
    table.set_muted(B, False)
    assert not table.drops(B, "audio")


def test_the_main_publisher_changes_are_reported_once() -> None:
    table = SlotTable()
    assert table.set_publisher(A)
    assert not table.set_publisher(A)
    assert not table.clear_publisher(B)  # not theirs to clear
    assert table.publisher == A
    assert table.clear_publisher(A)
    assert not table.clear_publisher()
    assert table.publisher is None
