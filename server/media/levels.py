"""The loudest ``ssrc-audio-level`` of a feed since it was last asked (both paths)."""

from __future__ import annotations


class LevelMeter:
    """Remembers the loudest level noted while unmuted (-dBov: 0 loudest .. 127 silent)."""

    def __init__(self) -> None:
        self.muted = False
        self._loudest: int | None = None

    def note_level(self, level: int) -> None:
        """An RTP packet's ``ssrc-audio-level`` (-dBov, 0 loudest .. 127 silent)."""
        if self.muted:
            return
        if self._loudest is None or level < self._loudest:
            self._loudest = level

    def take_level(self) -> int | None:
        """The loudest level since the last call (None: no packet carried one)."""
        level, self._loudest = self._loudest, None
        return level
