"""A command's status line as one write.

``salon scorer --processes N`` and ``salon serve --workers N`` run processes that share
one terminal or log file. ``print`` writes a line's text and its newline separately when
the stream is unbuffered (``PYTHONUNBUFFERED=1``, as CI sets it), so two processes could
splice each other's lines; one ``write`` of the whole line cannot be split."""

from __future__ import annotations

import sys


def say(line: str, *, err: bool = False) -> None:
    """Write ``line`` and its newline in one call, then flush."""
    stream = sys.stderr if err else sys.stdout
    stream.write(line + "\n")
    stream.flush()
