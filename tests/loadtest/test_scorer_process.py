"""``loadtest.spawn`` and ``chat_bench`` with ``--scorer-process``: the spawned server's
scorer is off and one ``salon scorer`` beside it is the only member of the scorer group;
the bench reports that process's CPU apart from the server's."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from redis import Redis

from loadtest.spawn import spawn_server
from server.engagement.events import STREAM_KEY as STREAM
from server.settings import EngagementSettings
from tests.loadtest.conftest import ROOT

GROUP = EngagementSettings(spill_dir="").scorer_group


def _consumers(redis: Redis) -> list[str]:
    if not redis.exists(STREAM):
        return []
    found: Any = redis.xinfo_consumers(STREAM, GROUP)
    return [c["name"].decode() for c in found]


def test_a_spawned_server_with_a_scorer_process_leaves_scoring_to_it() -> None:
    server = spawn_server(None, rtp_ports=10, scorer_process=True)
    try:
        assert server.scorer is not None
        redis = Redis.from_url(server.redis.url)
        deadline = time.monotonic() + 30
        while not _consumers(redis) and time.monotonic() < deadline:
            time.sleep(0.05)
        consumers = _consumers(redis)
        # The server's scorer is off: the scorer process is the group's only member.
        assert len(consumers) == 1, consumers
        assert consumers[0].endswith(f"-{server.scorer.pid}")
        redis.close()
    finally:
        server.stop()
    assert server.scorer.returncode == 0


def test_chat_bench_reports_the_scorer_process_cpu_apart() -> None:
    command = [sys.executable, "-m", "loadtest.chat_bench", "--scorer-process", "--members",
               "6", "--rate", "20", "--duration", "2", "--warmup", "1", "--no-pin"]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "server CPU:" in run.stdout
    assert "scorer process CPU:" in run.stdout, run.stdout
