"""Fixtures for media tests: client peers closed at the end of each test, passed or not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.media.peers import Peer

Closing = Callable[[Peer], Peer]


@pytest.fixture
async def closing() -> AsyncIterator[Closing]:
    """``closing(peer)`` returns ``peer`` and closes its connection when the test ends."""
    peers: list[Peer] = []

    def keep(peer: Peer) -> Peer:
        peers.append(peer)
        return peer

    yield keep
    for peer in peers:
        await peer.pc.close()
