"""The ``salon`` command: serve, and the operator's commands, one module per area."""
