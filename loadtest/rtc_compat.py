"""The load tester's door to ``rtcseams``, the one package reaching aiortc's and aioice's
private internals (client side; ``loadtest/`` may not import ``server/``).

A bot needs what aiortc 1.16 / aioice 0.13 have no public API for; modules of
``loadtest/`` (and the benchmarks' bots) import it from here, and ``check()`` says what
is missing on an upgrade (``tests/loadtest/test_rtc_compat.py`` runs every accessor on
real peers):

- ``gather_on``: aioice never offers 127.0.0.1 as a host candidate. A bot whose server
  is on loopback makes each ICE connection of its peer gather on the addresses it names
  (aioice's own gathering, handed other addresses).
- ``tap_rtp``: see every RTP packet of a receiver before aiortc's receive path (the bots
  count packets, loss and jitter from them), or instead of it (``replace=True``: the
  cheapest receiver, nothing reassembled, no NACK sent).
- ``count_without_decoding``: aiortc's receiver always decodes, in a thread per receiver.
  Installed in a bot process, its receivers hand ``UndecodedFrame``s out of
  ``track.recv()`` instead: frames are counted, never decoded. The whole process is
  affected; bot processes only receive to count.
- ``cap_video_bitrate``: aiortc's VP8 encoder has no bitrate setting; its module bounds
  are lowered for the whole process (the host bot's stream follows the server's REMB up
  to the cap).
- ``patient_consent``: aioice closes a connection after ``CONSENT_FAILURES`` (6) consent
  checks in a row, every ~5 s, each unanswered within 0.5 s and never retransmitted; a
  browser retransmits its checks and gives up only after ~30 s without any answer. On a
  loaded 2-core machine the fan-out benchmark's publisher lost its connection that way
  while subscribers joined (both ends still sending media). The bench's processes wait
  for more failures, for the whole process.

Everything else the bots do goes through aiortc's public API.
"""

from __future__ import annotations

from rtcseams.checks import missing_for_client
from rtcseams.ice import gather_on
from rtcseams.process import cap_video_bitrate, count_without_decoding, patient_consent
from rtcseams.receiver import UndecodedFrame, tap_rtp

__all__ = [
    "CompatError",
    "UndecodedFrame",
    "cap_video_bitrate",
    "check",
    "count_without_decoding",
    "gather_on",
    "patient_consent",
    "tap_rtp",
]


class CompatError(RuntimeError):
    """The installed aiortc/aioice lacks an internal the load tester relies on."""


def check() -> None:
    """Raise ``CompatError`` naming what this aiortc/aioice lacks (before any bot starts)."""
    missing = missing_for_client()
    if missing:
        raise CompatError(f"aiortc/aioice lacks what the load tester needs: {', '.join(missing)}")
