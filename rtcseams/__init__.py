"""The one package that reaches aiortc's and aioice's private internals.

aiortc 1.16 and aioice 0.13 have no public API for what Salon's media needs: taking RTP
packets off a receiver, writing packets to a sender's transport, hearing a subscriber's
RTCP, gathering ICE candidates on chosen addresses, or counting frames without decoding
them. Every such reach lives in this package and nowhere else, typed with Protocols, so
that an upgrade that renames an attribute is found by ``checks`` (at start-up) instead of
silently stopping media. The server (``server/media/aiortc_compat.py``) and the load
tester (``loadtest/rtc_compat.py``, which may not import ``server/``) both come through
here; this package imports neither of them.

- ``checks``: what the installed aiortc/aioice lacks, by feature (packet path, ICE and
  frame path, load-test client);
- ``receiver``: ``ReceiverTap`` and the receive-side accessors (frame path, bots' taps);
- ``sender``: ``SrtpOut``, ``SenderTap`` and the keyframe-request hook;
- ``fastsend``: the packet path's steady state in C (``_fastsend``, built from
  ``fastsend_build.py`` at install), and the hooks that bump its generation;
- ``ice``: candidate gathering on chosen addresses, the tests' loss filter;
- ``process``: process-wide knobs (decoder worker, VP8 bitrate cap, consent patience);
- ``guards``: the owned tasks and exception guards the taps run their callbacks under.
"""
