"""Webhooks out: endpoints registered by operators, a delivery queue in Redis per
endpoint, and the background dispatcher that signs and posts deliveries in order."""
