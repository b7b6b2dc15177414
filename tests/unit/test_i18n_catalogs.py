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


def test_every_refusal_and_error_code_has_a_sentence() -> None:
    from server.signaling.errors import ERROR_CODES

    english = load("en")
    codes = {code for code, _ in ERROR_CODES.values()}
    assert sorted(c for c in codes if f"error.{c}" not in english) == []
