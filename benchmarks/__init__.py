"""In-process benchmarks: they run server code (scoring, tiering, the event pipeline,
``RoomMedia``) inside their own processes and may import server internals. Load tests that
speak only the wire and REST to a running server live in ``loadtest/``.

``python -m benchmarks.fanout`` (``make bench``): server CPU per subscriber and added
forwarding latency, packet path vs frame path vs aiortc's ``MediaRelay``. Client-side
helpers (peers, synthetic tracks, process management) come from ``loadtest``.
"""
