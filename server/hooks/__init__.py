"""Scheduled sessions, hook links (``/r/CODE``, one per channel) and RSVPs: the journey
of a member before a live session starts."""
