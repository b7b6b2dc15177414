"""Where a socket for a room is served: here, or relayed to the node that owns the room.

``Router.target(room_id)`` answers with the advertised URL of the node a join must be
relayed to, or ``None`` to serve it here: the room's lease is this node's or nobody's
(this node takes the room, unless placement sends it to a much less loaded node), or its
holder's card is gone (a dead owner: the join waits here for its lease to run out, then
takes the room over). A draining or stopping node that holds no lease sends a new room
to the node placement picks.

Relayed upgrades carry ``RELAY_HEADER``, signed with ``auth.secret`` (``relay_header``):
a node serves a signed relay itself, never relays it again, and only then trusts the
client address it names (``X-Forwarded-For``). A member cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

from server.cluster.ownership import Ownership
from server.cluster.placement import place_new_room
from server.cluster.registry import NodeRegistry, now_ms
from server.ids import RoomId

RELAY_HEADER: Final = "X-Salon-Relay"
# A signed relay header is good for this long (seconds; clocks of nodes may differ a little).
RELAY_MAX_AGE_S: Final = 60


def _mac(secret: str, node_id: str, at: int) -> str:
    message = f"{node_id}.{at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def relay_header(secret: str, node_id: str, at: int | None = None) -> str:
    """``NODE.UNIXTIME.MAC``: ``node_id`` relays this upgrade."""
    at = int(time.time()) if at is None else at
    return f"{node_id}.{at}.{_mac(secret, node_id, at)}"


def relayed_by(secret: str, header: str | None, now: int | None = None) -> str | None:
    """The node that signed ``header``, or None when it is absent, forged or stale."""
    if not header or not secret:
        return None
    parts = header.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    node_id, at, mac = parts[0], int(parts[1]), parts[2]
    now = int(time.time()) if now is None else now
    if abs(now - at) > RELAY_MAX_AGE_S:
        return None
    return node_id if hmac.compare_digest(mac, _mac(secret, node_id, at)) else None


class Router:
    """Answers where a room's sockets are served (reads the lease and the registry)."""

    def __init__(self, ownership: Ownership, registry: NodeRegistry, node_ttl: float) -> None:
        self._ownership = ownership
        self._registry = registry
        self._ttl_ms = int(node_ttl * 1000)

    @property
    def node_id(self) -> str:
        return self._ownership.node_id

    async def target(self, room_id: RoomId) -> str | None:
        """The advertised URL to relay ``room_id``'s join to, or None: serve it here."""
        me = self._ownership.node_id
        if self._ownership.holds(room_id):
            return None
        lease = await self._ownership.store.holder(room_id)
        if lease is not None and lease.node_id == me:
            return None
        nodes = await self._registry.nodes()
        if lease is not None:
            card = next((n for n in nodes if n.node_id == lease.node_id), None)
            return card.url if card is not None else None
        refusing = self._ownership.refusing()
        picked = place_new_room(me, nodes, now_ms(), self._ttl_ms, refusing)
        return picked.url if picked is not None else None
