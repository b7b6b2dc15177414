"""Salon: tier-gated VIP live rooms on aiohttp signaling and aiortc media forwarding."""
