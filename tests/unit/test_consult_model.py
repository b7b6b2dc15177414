"""Consultations, pure parts: the whole ``ALLOWED`` table, the record's JSON round trip,
and a sentence (server) and a translation (pages) for every code the package raises."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from server.consult.errors import SENTENCES, sentence
from server.consult.model import ALLOWED, Consultation, ConsultError, Status, consult_of, room_of
from server.ids import MemberId

ROOT = Path(__file__).resolve().parents[2]
RECORD = Consultation("c1", MemberId("cora"), "Cora", "vip", "s1", "a note", 5)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_each_action_moves_only_from_its_status(status: Status, action: str) -> None:
    need, to = ALLOWED[action]
    record = replace(RECORD, status=status)
    if status is need:
        moved = record.moved(action, 99)
        assert moved.status is to and moved.ended_ms == (99 if action == "end" else 0)
    else:
        with pytest.raises(ConsultError) as caught:
            record.moved(action, 99)
        assert (caught.value.code, caught.value.status) == ("invalid_state", 409)
        assert caught.value.params == {"action": action, "state": status.value}


def test_a_record_survives_its_json_and_names_its_room() -> None:
    accepted = RECORD.moved("accept", 7)
    data = json.loads(json.dumps(accepted.to_json()))
    assert Consultation.from_json(data) == accepted
    assert data["room_id"] == room_of("c1") == "consult-c1"
    assert RECORD.to_json()["room_id"] is None  # no room while pending
    assert consult_of("consult-c1") == "c1" and consult_of("vip") is None


def test_every_code_raised_has_a_sentence_and_a_translation() -> None:
    raised = set()
    for path in (ROOT / "server" / "consult").glob("*.py"):
        raised |= set(re.findall(r'ConsultError\(\s*"([a-z_]+)"', path.read_text()))
    assert {"tier_too_low", "already_requested", "bad_note", "not_host"} <= raised
    for name in ("en", "zh-CN"):
        catalog = json.loads((ROOT / "web" / "i18n" / f"{name}.json").read_text())
        assert sorted(c for c in raised if f"consult.error.{c}" not in catalog) == [], name
    assert sorted(raised - set(SENTENCES)) == []
    refused = ConsultError("tier_too_low", tiers=["core", "active"])
    assert sentence(refused) == "Consultations are for core or active members."
    assert sentence(ConsultError("not_found")) == "There is no consultation"  # no param
