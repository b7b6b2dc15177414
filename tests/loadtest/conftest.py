"""A real ``salon serve`` (with its own Redis) per module, and a way to run the load tester.

The server is started as an operator would (``loadtest.spawn.spawn_server``: the
installed ``salon serve`` on loopback, ICE on 127.0.0.1); the load tester runs as its
users run it, ``python -m loadtest run … --url URL --admin-key KEY``, in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadtest.spawn import SpawnedServer, spawn_server

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def salon() -> Iterator[SpawnedServer]:
    server = spawn_server(None, rtp_ports=200)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ToolRun:
    code: int
    output: str
    report: dict[str, Any]
    html: str


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def start_tool(
    server: SpawnedServer | None, scenario: Path, out: Path, *extra: str
) -> subprocess.Popen[str]:
    """``python -m loadtest run`` against ``server`` (None: ``--spawn-server``), in a
    session of its own, as a terminal would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    target = (
        ["--url", server.url, f"--admin-key={server.admin_key}"] if server else ["--spawn-server"]
    )
    command = [
        sys.executable, "-m", "loadtest", "run", str(scenario), *target,
        "--report-dir", str(out), "--no-live", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish_tool(process: subprocess.Popen[str], out: Path) -> ToolRun:
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the load tester did not stop by itself:\n{output}") from None
    report_path = out / "report.json"
    assert report_path.exists(), f"no report (exit {process.returncode}):\n{output}"
    html = (out / "report.html").read_text()
    return ToolRun(process.returncode, output, json.loads(report_path.read_text()), html)


def run_tool(server: SpawnedServer, scenario: Path, out: Path, *extra: str) -> ToolRun:
    return finish_tool(start_tool(server, scenario, out, *extra), out)


def ctrl_c_when(process: subprocess.Popen[str], ready: Any, timeout: float = 30.0) -> None:
    """Once ``ready()``, send SIGINT to the tool's whole process group, as Ctrl-C does."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the load tester ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
