"""Why the media side refused an offer or a candidate: a stable code and its parameters.

``server/rooms`` turns a ``NegotiationFailed`` into its own ``MediaFailed`` (the wire's
``media_failed``, whose ``case`` is this code); sentences are rendered at the edges.
Codes: ``no_media``, ``bad_candidate`` (``detail``), ``candidate_port``,
``candidate_address``, ``negotiation`` (``detail``: aiortc's own words, for logs).
"""

from __future__ import annotations


class NegotiationFailed(Exception):
    """An offer or candidate that cannot be used; nothing was changed by it."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
