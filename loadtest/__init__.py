"""Load tests for Salon: scenarios of signaling and media bots against a running server.

``python -m loadtest run SCENARIO`` (``loadtest.cli``) drives a scenario and writes a
report. The fan-out benchmark, which runs the server's ``RoomMedia`` in-process, is
``python -m benchmarks.fanout``. See docs/loadtest.md.
"""
