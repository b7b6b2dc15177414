"""``python -m loadtest run coupon_rush`` end to end, small: 20 members rush a coupon of 4
on a real server; the report's counts agree with the server's and with Redis."""

from __future__ import annotations

from pathlib import Path

from loadtest.spawn import SpawnedServer
from tests.loadtest.conftest import run_tool


def test_a_small_coupon_rush_grants_exactly_the_stock(salon: SpawnedServer, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = run_tool(
        salon, Path("coupon_rush"), out, "--members", "20", "--spread", "0",
        "--redis-url", salon.redis.url,
    )  # fmt: skip
    assert run.code == 0, run.output
    report = run.report
    assert (report["members"], report["stock"], report["granted"]) == (20, 4, 4)
    assert report["granted_twice"] == 0 and report["lost"] == 0
    assert report["refused"] == {"sold_out": 16}
    assert report["server"]["claimed"] == 4
    assert report["redis"] == {"codes": 4, "members_with_two": 0}
    assert report["latency_ms"]["p99"] is not None
    assert "granted 4 (server: 4), granted twice 0" in run.output
    assert "coupon_rush" in run.html
