"""Which node takes a new room: the least-loaded live node that is not draining (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from server.cluster.registry import NodeInfo


def pick_node(nodes: Iterable[NodeInfo], now_ms: int, ttl_ms: int) -> NodeInfo | None:
    """The node with the fewest participants, then rooms, then CPU, among those heard
    from within ``ttl_ms`` and not draining; ``None`` when there is none. Ties go to the
    smallest id, so that every node computing this picks the same one."""
    live = [n for n in nodes if not n.draining and now_ms - n.seen_ms <= ttl_ms]
    if not live:
        return None
    return min(
        live, key=lambda n: (n.load.participants, n.load.rooms, round(n.load.cpu, 2), n.node_id)
    )
