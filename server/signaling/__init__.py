"""Signaling: the WebSocket protocol — messages, error codes, and the per-connection loop."""
