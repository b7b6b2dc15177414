"""Wall-clock time as room rules and the wire edge use it: epoch milliseconds, the unit of
engagement events' ``ts_ms`` (one definition, in ``server.engagement.events``)."""

from server.engagement.events import now_ms

__all__ = ["now_ms"]
