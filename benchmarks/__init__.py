"""In-process benchmarks: they run server code (scoring, tiering, the event pipeline) inside
their own process and may import server internals. Load tests that speak only the wire and
REST to a running server live in ``loadtest/``."""
