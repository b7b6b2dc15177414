"""Only hosts and co-hosts see members' tiers (issue 13: members saw every other
member's tier badge, because every participant record carried it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.functional.conftest import Socket, token

Connect = Callable[..., Awaitable[Socket]]


def _tiers(value: Any) -> list[str]:
    """Every tier found in a person's record anywhere in ``value``."""
    if isinstance(value, dict):
        own = [value["tier"]] if "member_id" in value and value.get("tier") else []
        return own + [t for v in value.values() for t in _tiers(v)]
    if isinstance(value, list):
        return [t for v in value for t in _tiers(v)]
    return []


async def test_members_see_no_tiers_but_their_own_and_hosts_see_them_all(
    connect: Connect,
) -> None:
    host = await connect()
    assert (await host.join(token("host", role="host")))["type"] == "joined"
    cora = await connect()
    joined = await cora.join(token("cora"))
    # Her own tier stays hers to see; nobody else's comes with the room.
    assert joined["you"]["tier"] == "core"
    assert _tiers({k: v for k, v in joined.items() if k != "you"}) == []

    ada = await connect()
    assert (await ada.join(token("ada")))["type"] == "joined"
    # Presence deltas: cora learns of ada without her tier; the host with it.
    delta = await cora.recv_type("presence")
    while "ada" not in [p["member_id"] for p in delta["joined"]]:
        assert _tiers(delta) == []
        delta = await cora.recv_type("presence")
    assert _tiers(delta) == []
    seen = await host.recv_type("presence")
    while "ada" not in [p["member_id"] for p in seen["joined"]]:
        seen = await host.recv_type("presence")
    assert "active" in _tiers(seen)
