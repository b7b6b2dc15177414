"""1:1 consultations: a core member asks, an advisor (a host) accepts, a private room opens."""
