"""Engagement: what members do becomes scores, scores become tiers, tiers open rooms.

- ``events``: the versioned event schema (msgpack) and each kind's data contract.
- ``recorder`` (+ ``spill``): the never-blocking writer to the Redis Stream, with a
  bounded memory buffer and a disk spill while Redis is slow or down.
- ``scorer``: the consumer-group reader and the sweep; ``ledger`` (+ ``state_codec``)
  applies events to one member exactly once, with a compare-and-set.
- ``rules`` (``tiers.toml``), ``scoring``, ``tiers``: pure points, caps, decay, RFM and
  tier decisions; ``explain`` says why a member is where they are.
- ``members``: the member records the gate reads; ``aggregates``, ``keys``, ``reports``:
  the operator's metrics; ``importer``: members and order history from CSV.
"""
