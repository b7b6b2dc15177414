"""The ``salon`` rewards commands against a real Redis: coupons, points rewards, a
member's points, a room's records and the totals, and refusals that exit 2."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from server.cli.main import main
from server.devtools.redis_embed import EmbeddedRedis
from server.rooms.points_store import PointsStore


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_coupons_rewards_and_points_from_the_command_line(
    cli_env: None, redis: Redis, redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["coupons", "set", "spring", "--title", "Spring", "--value", "10", "--count", "50",
         "--tiers", "core,active", "--pattern", "SPR-######"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert json.loads(out) == {
        "id": "spring", "title": "Spring", "pattern": "SPR-######", "value": "10.00",
        "tiers": ["core", "active"], "count": 50, "per_member": 1, "expires_ms": 0,
    }  # fmt: skip
    code, out, _ = run(["coupons", "show", "spring"], capsys)
    assert (code, json.loads(out)["claimed"], json.loads(out)["drops"]) == (0, 0, [])
    code, out, _ = run(["coupons", "list"], capsys)
    assert [c["coupon"]["id"] for c in json.loads(out)] == ["spring"]
    code, out, _ = run(
        ["points", "reward", "tote", "--title", "Tote", "--cost", "30", "--coupon", "spring"],
        capsys,
    )
    assert (code, json.loads(out)["cost"]) == (0, 30)
    code, out, _ = run(["points", "rewards"], capsys)
    assert [r["id"] for r in json.loads(out)] == ["tote"]

    async def earn() -> None:
        client = Redis.from_url(redis_server.url)
        try:
            await PointsStore(client).award("kai", "order:o-1", 12, "purchase", 1)
        finally:
            await client.aclose()

    asyncio.run(earn())
    code, out, _ = run(["points", "show", "kai"], capsys)
    assert (code, json.loads(out)["balance"]) == (0, 12)
    code, out, _ = run(["rewards", "room", "vip"], capsys)
    assert json.loads(out) == {"room_id": "vip", "drops": [], "draws": [], "quizzes": []}
    code, out, _ = run(["rewards", "totals"], capsys)
    assert json.loads(out)["points_issued"] == 12 and json.loads(out)["coupons"] == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["coupons", "set", "c", "--title", "T", "--value", "0", "--count", "5"], "invalid"),
        (
            ["coupons", "set", "c", "--title", "\x1b[31m", "--value", "1", "--count", "5"],
            "control_character",
        ),
        (["coupons", "show", "nope"], "no_coupon"),
        (["points", "reward", "r", "--title", "T", "--cost", "5", "--coupon", "nope"], "no_coupon"),
        (["points", "show", "bad id"], "invalid"),
    ],
)
def test_refusals_exit_2_with_one_line(
    cli_env: None, redis: Redis, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"salon: {words}: ") and err.count("\n") == 1, err
