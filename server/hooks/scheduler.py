"""Announces scheduled sessions when they start and end: a background task owned by
the app. At the start it publishes ``session.started`` with the RSVP list (the brand's
systems notify those members); at the end ``session.ended``. Each announcement is
claimed in Redis, so with several nodes exactly one announces it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from server.engagement.events import now_ms
from server.engagement.tasks import cancel_and_wait, check_cancelled
from server.hooks.model import HookError
from server.hooks.store import DUE_END, DUE_START, HookStore

logger = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], object]


class SessionScheduler:
    def __init__(self, store: HookStore, publish: Publish, interval: float) -> None:
        self._store = store
        self._publish = publish
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            check_cancelled()
            try:
                await self.tick()
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("session scheduler: Redis unavailable: %s", exc)
            await asyncio.sleep(self._interval)

    async def tick(self) -> None:
        kinds = (("session.started", DUE_START), ("session.ended", DUE_END))
        due = await self._store.due(tuple(key for _, key in kinds), now_ms())
        for (kind, key), ids in zip(kinds, due, strict=True):
            for session_id in await self._store.claim_due(key, ids):
                try:
                    session = await self._store.session(session_id)
                except HookError:
                    continue
                rsvps = await self._store.rsvps(session_id)
                data = {
                    **session.to_json(),
                    "rsvps": [{"member_id": m, **r} for m, r in sorted(rsvps.items())],
                }
                self._publish(kind, data)
                logger.info("session %s: %s (%d RSVPs)", session_id, kind, len(rsvps))
