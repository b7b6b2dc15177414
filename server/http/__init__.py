"""REST edges: one module per area of the HTTP API, their shared helpers, OpenAPI, /metrics."""
