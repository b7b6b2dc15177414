"""Packet forwarding for rooms' media: RTP in, rewritten RTP out, no codec, no jitter buffer.

``server/rooms`` uses this package; it imports nothing from ``server/rooms``. Only
``aiortc_compat`` touches aiortc's and aioice's private internals.
"""
