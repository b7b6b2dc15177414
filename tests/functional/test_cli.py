"""The ``salon`` command against a real Redis: members, rooms, tokens, and bad input."""

from __future__ import annotations

import json

import pytest

from server.cli.main import main
from server.rooms.tokens import verify_token
from tests.functional.conftest import CLI_SECRET


def test_members_rooms_and_tokens(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["members", "set", "kai", "--tier", "core", "--name", "Kai"]) == 0
    assert json.loads(capsys.readouterr().out)["tier"] == "core"
    assert main(["members", "get", "kai"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Kai"
    assert (
        main(
            [
                "rooms",
                "create",
                "cli-room",
                "--title",
                "CLI room",
                "--tiers",
                "core,active",
                "--capacity",
                "7",
                "--invite",
                "ann",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["rooms", "list"]) == 0
    assert "cli-room\tCLI room\ttiers=core,active\tcapacity=7" in capsys.readouterr().out
    assert main(["token", "kai", "--room", "cli-room", "--role", "host", "--ttl", "60"]) == 0
    claims = verify_token(CLI_SECRET, capsys.readouterr().out.strip(), "cli-room")  # type: ignore[arg-type]
    assert (claims.member_id, claims.role.value) == ("kai", "host")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["members", "set", "bad id", "--tier", "core"], "invalid_id"),
        (["rooms", "create", "r", "--title", "T", "--tiers", "gold"], "invalid_tier"),
        (
            ["rooms", "create", "r", "--title", "T", "--tiers", "core", "--capacity", "0"],
            "capacity",
        ),
        (["token", "kai", "--room", "no room"], "invalid_id"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    cli_env: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err
    assert len(err.splitlines()) == 1


def test_missing_secret_is_named(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SALON_SECRET")
    assert main(["token", "kai", "--room", "r"]) == 2
    assert "SALON_SECRET" in capsys.readouterr().err


def test_unknown_member_exits_1(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["members", "get", "ghost"]) == 1
    assert "no member 'ghost'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["members", "set", "kai-text", "--tier", "core", "--name", "Kai\u202eiaK"],
        ["members", "set", "kai-text", "--tier", "core", "--name", "Kai\nAdmin"],
        ["members", "set", "kai-text", "--tier", "core", "--name", "K\x00ai"],
        ["rooms", "create", "r-cli", "--title", "Launch\u202e", "--tiers", "core"],
    ],
)
def test_names_and_titles_follow_the_text_rules(
    cli_env: None, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """Issue 9: names accepted U+202E, NUL and newlines; the CLI applies the same rules."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("salon: invalid_text: '"), err
    assert main(["members", "get", "kai-text"]) == 1
    assert main(["rooms", "list"]) == 0
    assert "r-cli" not in capsys.readouterr().out
