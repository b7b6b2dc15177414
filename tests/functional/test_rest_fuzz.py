"""The REST fuzzer in the suite: schemathesis against ``/api/openapi.json`` of a real
``salon serve`` on a real Redis, one bounded round (16 requests per operation, positive
and negative). Asserted: no 5xx while Redis is up, every answer as the document says
(status, content type, body schema), and no traceback in the server's log."""

from __future__ import annotations

import pytest

from loadtest.spawn import SpawnedServer
from tests.fuzz.rest_fuzz import run_rest_fuzz


@pytest.mark.timeout(240)
def test_no_input_makes_the_rest_api_fail(spawned: SpawnedServer) -> None:
    result = run_rest_fuzz(spawned.url, spawned.admin_key, seconds=120, rounds=1)
    log = spawned.log_path.read_text(errors="replace")
    assert result["operations"] >= 24
    assert min(result["by_operation"].values()) >= 1, result["by_operation"]
    assert result["requests"] >= 300
    assert result["server_errors"] == 0, result["examples"]
    assert result["transport_errors"] == 0, result["failure_kinds"]
    assert result["failures"] == 0, (result["failure_kinds"], result["examples"])
    assert "Traceback" not in log, log[-4000:]
