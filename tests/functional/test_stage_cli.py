"""The operator's side of the stage: speaker settings on rooms, and bans, from the CLI."""

from __future__ import annotations

import json

import pytest

from server.cli.main import main


def test_room_stage_settings_and_bans(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["rooms", "create", "cli-stage", "--title", "Panel", "--tiers", "core"]
    assert main([*args, "--speakers", "3", "--speaker-cameras"]) == 0
    room = json.loads(capsys.readouterr().out)
    assert (room["speaker_cap"], room["speaker_cameras"]) == (3, True)
    assert main(args) == 0
    room = json.loads(capsys.readouterr().out)
    assert (room["speaker_cap"], room["speaker_cameras"]) == (6, False)

    assert main(["bans", "add", "cli-stage", "kim"]) == 0
    capsys.readouterr()
    assert main(["bans", "list", "cli-stage"]) == 0
    assert capsys.readouterr().out.split() == ["kim"]
    assert main(["bans", "remove", "cli-stage", "kim"]) == 0
    assert "lifted" in capsys.readouterr().out
    assert main(["bans", "remove", "cli-stage", "kim"]) == 1
    assert "not banned" in capsys.readouterr().err
    assert main(["bans", "add", "cli-stage", "bad id"]) == 2
    assert "invalid_id" in capsys.readouterr().err
    assert main([*args, "--speakers", "99"]) == 2
    assert "speaker_cap" in capsys.readouterr().err
