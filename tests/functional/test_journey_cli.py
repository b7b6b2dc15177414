"""The operator's journey commands: webhooks, sessions and hook links from the CLI."""

from __future__ import annotations

import json

import pytest

from server.cli.main import main


def test_webhooks_sessions_and_hook_links_from_the_cli(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["webhooks", "add", "http://127.0.0.1:9/hook", "--kinds", "rsvp.created"]) == 0
    endpoint = json.loads(capsys.readouterr().out)
    assert endpoint["secret"].startswith("whsec_") and endpoint["kinds"] == ["rsvp.created"]
    assert main(["webhooks", "list"]) == 0
    assert endpoint["id"] in capsys.readouterr().out
    assert main(["webhooks", "deliveries", endpoint["id"]]) == 0
    assert capsys.readouterr().out == ""
    assert main(["webhooks", "add", "file:///etc/passwd"]) == 2
    assert "bad_url" in capsys.readouterr().err
    assert main(["webhooks", "remove", endpoint["id"]]) == 0
    capsys.readouterr()
    assert main(["webhooks", "remove", endpoint["id"]]) == 2
    assert "not_found" in capsys.readouterr().err

    assert main(["rooms", "create", "cli-launch", "--title", "Launch", "--tiers", "core"]) == 0
    capsys.readouterr()
    schedule = ["sessions", "schedule", "cli-spring", "--room", "cli-launch", "--title", "Spring"]
    assert main([*schedule, "--starts-at", "2031-03-01T19:30:00+08:00"]) == 0
    session = json.loads(capsys.readouterr().out)
    assert session["starts_ms"] == 1930131000000 and session["tiers"] == [
        "core",
        "active",
        "potential",
    ]
    assert main([*schedule, "--starts-at", "next week"]) == 2
    assert "bad_time" in capsys.readouterr().err
    assert main(["hooks", "add", "cli-spring", "--channel", "wecom-group", "--code", "cli-wg"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == "/r/cli-wg"
    assert main(["hooks", "add", "cli-spring", "--channel", "other", "--code", "cli-wg"]) == 2
    assert "code_taken" in capsys.readouterr().err
    coupon_link = ["hooks", "add", "cli-spring", "--channel", "live", "--code", "cli-cp"]
    assert main([*coupon_link, "--coupon", "cli-none"]) == 2
    assert "not_found" in capsys.readouterr().err
    assert (
        main(["coupons", "set", "cli-gift", "--title", "Gift", "--value", "5", "--count", "9"]) == 0
    )
    capsys.readouterr()
    assert main([*coupon_link, "--coupon", "cli-gift"]) == 0
    assert json.loads(capsys.readouterr().out)["coupon"] == "cli-gift"
    assert main(["hooks", "funnel"]) == 0
    funnel = json.loads(capsys.readouterr().out)
    assert {
        "code": "cli-wg",
        "channel": "wecom-group",
        "visits": 0,
        "registrations": 0,
        "rsvps": 0,
        "joined": 0,
        "bought": 0,
    } in funnel["links"]
