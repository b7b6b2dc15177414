"""Load tests that drive a Salon server with real WebRTC peers (run as ``python -m loadtest.*``)."""
