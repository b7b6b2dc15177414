"""In-process benchmarks: they run server internals (``RoomMedia``) in their own processes.

``python -m benchmarks.fanout`` (``make bench``): server CPU per subscriber and added
forwarding latency, packet path vs frame path vs aiortc's ``MediaRelay``. Client-side
helpers (peers, synthetic tracks, process management) come from ``loadtest``; unlike
``loadtest``, which speaks only the wire and REST, these may import ``server``.
"""
