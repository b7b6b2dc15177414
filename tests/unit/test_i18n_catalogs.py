"""The pages' catalogs (web/i18n/*.json): the same keys in every language, the same
placeholders in each sentence, and every key the pages ask for present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
CATALOGS = {path.stem: path for path in sorted((WEB / "i18n").glob("*.json"))}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t('key'…), data-i18n="key", data-i18n-label="key", … in the pages' modules and HTML.
USED = re.compile(
    r"""\bt\(\s*'([a-z_]+\.[a-z0-9_.]+)'|data-i18n(?:-\w+)?="([a-z_]+\.[a-z0-9_.]+)\""""
)
# Keys built at run time: their prefixes, and the names they are completed with.
DYNAMIC = {
    "status": ["connecting", "joined", "media", "reconnecting", "disconnected"],
    "role": ["host", "cohost", "speaker", "member"],
    "tier": ["core", "active", "potential", "silent"],
    "reaction": ["heart", "clap", "fire", "laugh", "wow", "party"],
    "strip": ["people", "questions", "clicks", "purchases", "revenue", "tiers"],
    "tiers.reason": ["core", "active", "potential", "silent", "pinned"],
}


def load(name: str) -> dict[str, str]:
    data = json.loads(CATALOGS[name].read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_there_are_english_and_chinese_catalogs() -> None:
    assert set(CATALOGS) >= {"en", "zh-CN"}


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_every_key_of_one_catalog_exists_in_the_other(name: str) -> None:
    english = load("en")
    other = load(name)
    assert sorted(set(english) - set(other)) == [], f"missing in {name}"
    assert sorted(set(other) - set(english)) == [], f"only in {name}"


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_sentences_keep_their_placeholders(name: str) -> None:
    english = load("en")
    for key, text in load(name).items():
        assert isinstance(text, str) and text.strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), key


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*WEB.glob("*.js"), *WEB.glob("*.html")]:
        for match in USED.finditer(path.read_text(encoding="utf-8")):
            keys.add(match.group(1) or match.group(2))
    for prefix, names in DYNAMIC.items():
        keys.update(f"{prefix}.{name}" for name in names)
    return keys


def test_every_key_the_pages_use_is_in_the_catalogs() -> None:
    english = load("en")
    # A key with a count may exist only in its plural forms (key.one, key.other).
    missing = sorted(k for k in used_keys() if k not in english and f"{k}.other" not in english)
    assert missing == []


SERVER = WEB.parent / "server"
# A code given where an error is made: RoomError("code"…), a named error's first
# argument that is a case (InvalidState("case"…)), or the wire's ProtocolError/m.error.
RAISED = re.compile(r'\b(RoomError|RewardError|ProtocolError|error)\(\s*"([a-z_]+)"')
CASES = re.compile(
    r'\b(InvalidState|StageConflict|TokenInvalid|MediaFailed)\(\s*"([a-z_]+)"'
    r'|\bcase="([a-z_]+)"'
)


def domain_codes() -> dict[str, set[str]]:
    """Every domain error code (rooms and rewards: one mechanism) and its cases."""
    from server.rooms.errors import CODES
    from server.rooms.reward_errors import RewardError

    merged: dict[str, set[str]] = {code: set(cases) for code, cases in CODES.items()}
    for code, cases in RewardError.codes.items():
        merged.setdefault(code, set()).update(cases)
    return merged


def server_sources() -> list[Path]:
    return sorted(SERVER.rglob("*.py"))


def test_every_code_raised_in_the_source_is_a_known_code() -> None:
    """A code typed at a raise site is one the catalogs are checked for (a typo there
    would reach pages as a code no catalog knows)."""
    from server.signaling.fields import PROTOCOL_CODES

    known = set(domain_codes()) | PROTOCOL_CODES
    all_cases = {case for cases in domain_codes().values() for case in cases}
    raised: set[str] = set()
    cases: set[str] = set()
    for path in server_sources():
        source = path.read_text(encoding="utf-8")
        raised.update(match.group(2) for match in RAISED.finditer(source))
        cases.update(match.group(2) or match.group(3) for match in CASES.finditer(source))
    assert raised, "the pattern found no raise site at all"
    assert sorted(raised - known) == []
    assert sorted(cases - all_cases) == []
    # The patterns still see the raise sites (a refactor that hid them would pass vacuously).
    assert {"not_eligible", "bad_message", "unavailable"} <= raised
    assert {"not_on_stage", "no_product_card", "on_host", "signature"} <= cases


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_every_error_code_a_person_can_meet_has_a_sentence_in_every_language(name: str) -> None:
    from server.signaling.fields import PROTOCOL_CODES

    catalog = load(name)
    codes = set(domain_codes()) | PROTOCOL_CODES
    assert sorted(c for c in codes if f"error.{c}" not in catalog) == []
    # A case-specific sentence is optional; one that exists names a real case.
    for key in catalog:
        parts = key.split(".")
        if parts[0] == "error" and len(parts) == 3:
            assert parts[2] in domain_codes().get(parts[1], set()), key


def test_every_domain_code_and_case_has_a_server_sentence() -> None:
    from server.error_text import SENTENCES, render

    for code, cases in domain_codes().items():
        assert code in SENTENCES or all(f"{code}.{case}" in SENTENCES for case in cases), code
        for case in cases:
            assert f"{code}.{case}" in SENTENCES, (code, case)
            assert "{" not in render(code, {"case": case})


def test_the_server_catalog_renders_parameters_and_terms() -> None:
    from server.error_text import GENERIC, render, sentence
    from server.rooms.errors import Forbidden, TierTooLow

    assert sentence(Forbidden("invite", "member")) == (
        "A member cannot invite someone to the stage."
    )
    assert sentence(Forbidden("mute_other", "cohost", case="on_host")) == (
        "A co-host cannot mute the host."
    )
    assert sentence(TierTooLow("VIP", ["core", "active"], "silent")).startswith(
        "'VIP' is open to core and active members"
    )
    assert "invited guests only" in sentence(TierTooLow("VIP", [], "silent"))
    assert render("no_such_code", {}) == GENERIC
