"""The REST fuzzer: schemathesis against the server's own ``/api/openapi.json``.

:func:`run_rest_fuzz` reads the document from a running server, then, until ``seconds``
have passed (or each operation has had ``rounds`` rounds), takes every operation in
turn and sends it a small batch of generated requests: positive ones (valid by the
schema) and negative ones (breaking it). Every answer is checked: no 5xx, a status the
document declares, its content type and, where it says one, its body schema. It never
raises on a finding: it counts them and keeps the first examples (as curl commands).

Used by ``tests/functional/test_rest_fuzz.py`` (a bounded run in ``make test``) and by
``make fuzz`` (``tests/fuzz/run.py``, minutes).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections import Counter
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BATCH = 8
KEEP = 20


def _load(base_url: str) -> Any:
    with urllib.request.urlopen(f"{base_url}/api/openapi.json", timeout=10) as response:
        return schemathesis.openapi.from_dict(json.loads(response.read()))


def run_rest_fuzz(
    base_url: str,
    admin_key: str,
    seconds: float,
    *,
    rounds: int | None = None,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Fuzz every operation for ``seconds`` (or ``rounds`` batches each, if sooner).

    Returns ``requests`` sent, ``server_errors`` (5xx), ``failures`` (any check),
    ``by_status``, ``by_operation`` and ``examples`` of failures."""
    schema = _load(base_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {admin_key}"}
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    sent = server_errors = transport_errors = 0
    deadline = time.monotonic() + seconds
    done = 0

    def send(case: Any) -> None:
        nonlocal sent, server_errors, transport_errors
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
        except requests.RequestException as exc:
            transport_errors += 1
            failures[f"{case.operation.label}: transport: {type(exc).__name__}"] += 1
            return
        sent += 1
        statuses[response.status_code] += 1
        per_operation[case.operation.label] += 1
        if response.status_code >= 500:
            server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as exc:  # a finding: counted, never raised
            found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            kinds = ", ".join(sorted({getattr(e, "title", type(e).__name__) for e in found}))
            failures[f"{case.operation.label}: {kinds}"] += 1
            if len(examples) < KEEP:
                examples.append(
                    {
                        "operation": case.operation.label,
                        "status": response.status_code,
                        "problem": str(exc)[:600],
                        "curl": case.as_curl_command(headers=headers)[:800],
                    }
                )

    while time.monotonic() < deadline and (rounds is None or done < rounds):
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if time.monotonic() >= deadline:
                    break
                _batch(operation, mode, batch, send)
        done += 1
    session.close()
    return {
        "requests": sent,
        "server_errors": server_errors,
        "transport_errors": transport_errors,
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures.most_common(30)),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
        "by_operation": dict(per_operation),
        "operations": len(operations),
        "rounds": done,
        "examples": examples,
    }


def _batch(operation: Any, mode: GenerationMode, count: int, send: Any) -> None:
    """Up to ``count`` generated requests for one operation in one mode.

    Generated first, sent afterwards: a check run inside hypothesis' test would make it
    shrink and stop at the first finding instead of counting them all."""
    strategy = operation.as_strategy(generation_mode=mode)
    cases: list[Any] = []

    @hypothesis.settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def generate(case: Any) -> None:
        cases.append(case)

    # Unsatisfiable: a negative mode with nothing to break (no parameters, no body).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        generate()
    for case in cases:
        send(case)
