"""Load tests for Salon: scenarios of signaling and media bots against a running server.

``python -m loadtest run SCENARIO`` (``loadtest.cli``) drives a scenario and writes a
report; ``python -m loadtest fanout`` (``loadtest.fanout``) measures the forwarding
relay's CPU per subscriber against aiortc's transcoding relay. See docs/loadtest.md.
"""
