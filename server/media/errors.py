"""Why the media side refused an offer or a candidate: a stable code and its parameters.

``server/rooms`` turns a ``NegotiationFailed`` into its own ``MediaFailed`` (the wire's
``media_failed``); the sentence is rendered from the code by ``describe``.
"""

from __future__ import annotations

# code -> sentence template (English; what logs and ``MediaFailed`` carry).
SENTENCES = {
    "no_media_section": "the offer has no audio or video section",
    "candidate_malformed": "the ICE candidate is malformed ({detail})",
    "candidate_port": "the ICE candidate names no valid port or component",
    "candidate_address": "the ICE candidate names no valid address",
    "sdp_rejected": "{detail}",
}


class NegotiationFailed(Exception):
    """An offer or candidate that cannot be used; nothing was changed by it."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    def describe(self) -> str:
        return SENTENCES[self.code].format(**self.params)
