"""Load tests for Salon: scenarios of signaling and media bots against a running server.

``python -m loadtest run SCENARIO`` (``loadtest.cli``) drives a scenario and writes a
report. The load tester speaks only the wire (WebSocket, WebRTC) and REST to a server, and
imports nothing of ``server/``; in-process benchmarks, the fan-out benchmark among them
(``python -m benchmarks.fanout``), are in ``benchmarks/``. See docs/loadtest.md.
"""
