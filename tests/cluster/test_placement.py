"""Placement of a new room (server/cluster/placement.py, pure): the node that received the
room's first join keeps it unless it drains or is much busier than the least-loaded node."""

from __future__ import annotations

from server.cluster.placement import BUSIER_BY, much_busier, place_new_room
from server.cluster.registry import Load, NodeInfo

NOW = 1_000_000
TTL = 6_000


def card(node_id: str, participants: int, *, draining: bool = False, seen: int = NOW) -> NodeInfo:
    return NodeInfo(node_id, f"http://{node_id}", "127.0.0.1", Load(participants // 30,
                    participants), 0, seen, draining)  # fmt: skip


def placed(me: str, cards: list[NodeInfo], refusing: bool = False) -> str | None:
    picked = place_new_room(me, cards, NOW, TTL, refusing)
    return picked.node_id if picked is not None else None


def test_the_node_that_received_the_first_join_keeps_a_room_while_loads_are_close() -> None:
    assert placed("a", [card("a", 0), card("b", 0)]) is None
    assert placed("a", [card("a", 300), card("b", 150)]) is None, "within half again + 200"
    assert placed("a", [card("a", BUSIER_BY - 1), card("b", 0)]) is None
    assert placed("a", [card("a", 0), card("b", 0), card("c", 0)]) is None


def test_a_much_busier_node_sends_a_new_room_to_the_least_loaded_live_node() -> None:
    cards = [card("a", 1000), card("b", 400), card("c", 100), card("d", 0, draining=True),
             card("e", 0, seen=NOW - 2 * TTL)]  # fmt: skip
    assert placed("a", cards) == "c", "the least-loaded live node that is not draining"
    assert placed("a", [card("a", BUSIER_BY), card("b", 0)]) == "b"
    assert much_busier(card("a", 1499), card("b", 1000)) is False, "less than half again"
    assert much_busier(card("a", 1500), card("b", 1000)) is True


def test_a_draining_node_always_sends_a_new_room_elsewhere_or_keeps_it_with_none_left() -> None:
    assert placed("a", [card("a", 0), card("b", 500)], refusing=True) == "b"
    assert placed("a", [card("a", 0)], refusing=True) is None
    assert placed("a", [card("a", 0), card("b", 0, draining=True)], refusing=True) is None


def test_a_node_whose_own_card_is_gone_keeps_the_room() -> None:
    """Its load is unknown (a heartbeat missed): it serves the join rather than guess."""
    assert placed("a", [card("b", 0)]) is None
