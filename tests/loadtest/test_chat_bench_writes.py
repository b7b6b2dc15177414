"""``chat_bench`` reports the server's coalesced socket writes over its measured window,
and ``--write-window`` reaches the server (issue 17)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.loadtest.conftest import ROOT


def test_chat_bench_reports_frames_and_the_writes_that_carried_them() -> None:
    command = [sys.executable, "-m", "loadtest.chat_bench", "--members", "6", "--rate", "20",
               "--duration", "3", "--warmup", "1", "--no-pin",
               "--write-window", "0.02"]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"socket writes: ([\d,]+) broadcast frames in ([\d,]+) coalesced", run.stdout)
    assert found is not None, run.stdout
    frames, writes = (int(g.replace(",", "")) for g in found.groups())
    # About 13 broadcasts a second and a 20 ms window: some frames share a write.
    assert frames > writes > 0, (frames, writes)
