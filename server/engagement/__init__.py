"""Engagement: member records and tiers, the event stream, and the scorer that reads it."""
