"""The hook routes' buckets: per address and per code, refill with time, and a refused
request takes nothing from either bucket."""

from __future__ import annotations

from server.http.hook_limits import HookLimits
from server.settings import ConsultSettings


def test_buckets_refill_and_a_refusal_costs_nothing() -> None:
    now = [0.0]
    limits = HookLimits(
        ConsultSettings(hook_ip_rate=1.0, hook_ip_burst=2, hook_code_rate=10.0, hook_code_burst=3),
        clock=lambda: now[0],
    )
    assert limits.take("1.2.3.4", "a") == 0 and limits.take("1.2.3.4", "a") == 0
    assert limits.take("1.2.3.4", "a") == 1.0  # the address's bucket is empty
    # The refusal took nothing from the code's bucket: another address gets its last one.
    assert limits.take("5.6.7.8", "a") == 0
    assert limits.take("9.9.9.9", "a") == 0.1  # the code's bucket is empty now
    now[0] = 0.5
    assert limits.take("1.2.3.4", "b") == 0.5
    now[0] = 1.0
    assert limits.take("1.2.3.4", "b") == 0
