"""Which node takes a new room (pure): the node that received its first join, unless that
node is draining or much busier than the least-loaded live node, which then takes it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from server.cluster.registry import NodeInfo

# A node that receives a new room's first join keeps it unless the least-loaded other node
# carries at least this many fewer participants (an absolute floor: small rooms on a small
# cluster never move) and at most 1 / (1 + BUSIER_SHARE) of its own.
BUSIER_BY: Final = 200
BUSIER_SHARE: Final = 0.5


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


def much_busier(mine: NodeInfo, other: NodeInfo) -> bool:
    """Whether ``mine`` carries so many more participants than ``other`` that a new room
    is better opened there (one relay hop per socket landing here is then worth it)."""
    gap = mine.load.participants - other.load.participants
    return gap >= max(BUSIER_BY, other.load.participants * BUSIER_SHARE)


def place_new_room(
    me: str, nodes: Iterable[NodeInfo], now_ms: int, ttl_ms: int, refusing: bool
) -> NodeInfo | None:
    """The node a new room that reached node ``me`` should open on, or ``None``: here.

    ``refusing`` (``me`` drains or stops): the least-loaded other live node (None when
    there is none: the join then fails here as before). Otherwise ``me`` keeps the room
    (the load balancer sent the room's sockets here, so they need no relay) unless it is
    ``much_busier`` than the least-loaded other live node (its own card gone: kept)."""
    cards = list(nodes)
    picked = pick_node((n for n in cards if n.node_id != me), now_ms, ttl_ms)
    if refusing or picked is None:
        return picked if refusing else None
    mine = next((n for n in cards if n.node_id == me), None)
    return picked if mine is not None and much_busier(mine, picked) else None
