"""Active speaker: audio levels read off RTP packets, sampled and reported per room.

Each audio feed notes the ``ssrc-audio-level`` header extension of its publisher's RTP
packets (the packet path's feed reads it off the packets it forwards; the frame path's
``FrameForwarder`` looks at each packet before aiortc's receiver takes it), and every
``LEVEL_INTERVAL`` seconds the loudest level per publisher goes to the room's
``on_levels``: while anyone speaks, and once more when everyone has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Protocol

from server.ids import ParticipantId
from server.media.counters import MediaCounters

# Seconds between two active-speaker reports while anyone is speaking.
LEVEL_INTERVAL = 0.25
# ssrc-audio-level is -dBov (0 loudest, 127 silence); louder than -50 dBov is speech.
SPEAKING_DBOV = 50


class LevelSource(Protocol):
    """An audio feed as the level reporter sees it (either forwarding path)."""

    @property
    def publisher(self) -> ParticipantId | None: ...
    @property
    def live(self) -> bool: ...

    muted: bool

    def take_level(self) -> int | None: ...


Levels = tuple[list[ParticipantId], dict[ParticipantId, float]]
LevelsListener = Callable[[list[ParticipantId], dict[ParticipantId, float]], None]


def level_of(dbov: int) -> float:
    """A level for meters: 1.0 at 0 dBov, 0.0 at -127 dBov (linear in decibels)."""
    return round(max(0.0, min(1.0, 1.0 - dbov / 127)), 2)


def sample_levels(feeds: Iterable[LevelSource]) -> Levels:
    """Who speaks now, and every live, unmuted audio publisher's level (0..1)."""
    speaking: list[ParticipantId] = []
    levels: dict[ParticipantId, float] = {}
    for feed in feeds:
        dbov = feed.take_level()
        if feed.publisher is None or not feed.live or feed.muted:
            continue
        levels[feed.publisher] = level_of(dbov) if dbov is not None else 0.0
        if dbov is not None and dbov <= SPEAKING_DBOV:
            speaking.append(feed.publisher)
    return speaking, levels


class LevelReporter:
    """Reports the levels of ``feeds()`` to ``listener()``.

    The reporting task starts with the first audio feed attached (``start``); ``close``
    stops it.
    """

    def __init__(
        self,
        task_name: str,
        feeds: Callable[[], Iterable[LevelSource]],
        listener: Callable[[], LevelsListener | None],
        counters: MediaCounters,
    ) -> None:
        self._task_name = task_name
        self._counters = counters
        self._feeds = feeds
        self._listener = listener
        self._task: asyncio.Task[None] | None = None
        self._was_speaking = False

    def start(self) -> None:
        """Start reporting (idempotent): an audio feed has a publisher."""
        if self._task is None:
            self._task = self._counters.watch(
                asyncio.create_task(self._report(), name=self._task_name),
                "reporting active speakers",
            )

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(LEVEL_INTERVAL)
            speaking, levels = sample_levels(self._feeds())
            # Report while anyone speaks, and once more when everyone has stopped.
            listener = self._listener()
            if (speaking or self._was_speaking) and listener is not None:
                listener(speaking, levels)
            self._was_speaking = bool(speaking)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
