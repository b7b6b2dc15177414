"""Running the ``salon`` command line in tests, as a process on a given Redis."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from server.devtools.redis_embed import EmbeddedRedis

SALON = Path(sys.executable).with_name("salon")


async def salon(redis_server: EmbeddedRedis, *args: str) -> tuple[int, str, str]:
    """Run ``salon ARGS`` with no ``SALON_*`` setting but the Redis URL; its exit code and
    output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALON_")}
    env["SALON_REDIS_URL"] = redis_server.url
    proc = await asyncio.create_subprocess_exec(
        str(SALON),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
