"""Helpers for starting a local ``salon serve`` child (browser tests, load tests, benches):
the environment and command line it is started with, and the health probe that says it is up.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Sequence


def serve_env(redis_url: str, secret: str, admin_key: str) -> dict[str, str]:
    """This process's environment without stray ``SALON_*`` values, plus the server's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env.update(SALON_REDIS_URL=redis_url, SALON_SECRET=secret, SALON_ADMIN_KEY=admin_key)
    return env


def serve_command(
    salon: Sequence[str],
    port: int,
    redis_url: str,
    rtp_ports: tuple[int, int],
    extra: Sequence[str] = (),
) -> list[str]:
    """``salon serve`` on 127.0.0.1 that offers 127.0.0.1 as its ICE address."""
    return [
        *salon,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--redis-url",
        redis_url,
        "--ice-address",
        "127.0.0.1",
        "--rtp-ports",
        f"{rtp_ports[0]}-{rtp_ports[1]}",
        *extra,
    ]


def healthy(base_url: str) -> bool:
    """True when ``base_url``'s ``/healthz`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
