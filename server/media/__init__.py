"""A room's media: negotiation, the slot table, and forwarding (RTP packets by default).

Used only by ``server/rooms`` (through ``server/rooms/media.py``); it imports nothing from
``server/rooms``, ``server/signaling`` or ``server/http``. Only ``aiortc_compat`` touches
aiortc's and aioice's private internals. docs/architecture.md has the module map.
"""
