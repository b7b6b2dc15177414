"""Salon nodes in cluster mode for the multi-node tests: real apps on real ports (each
with its own node id and advertised URL) on the test's Redis Cluster."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import SERVICE, create_app
from server.devtools.redis_cluster import EmbeddedCluster
from server.rooms.service import RoomService
from server.settings import Settings
from tests.functional.conftest import RELAXED, Socket, make_settings

# Short leases so that tests see renewals, losses and take-overs within seconds (not so
# short that a busy shared machine lets one run out).
CLUSTER_MODE: dict[str, Any] = {
    "node.own_rooms": True,
    "rooms.state": "redis",
    "node.lease_ttl": 2.0,
    "node.lease_renew": 0.4,
    "node.heartbeat": 0.2,
    "node.ttl": 1.5,
    "redis.timeout": 6.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Node:
    """One running node: its server, settings and room service."""

    def __init__(self, server: TestServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings

    @property
    def service(self) -> RoomService:
        return self.server.app[SERVICE]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.server.port}"

    async def socket(self, session: aiohttp.ClientSession) -> Socket:
        return Socket(await session.ws_connect(f"{self.url}/ws", protocols=("salon.v1.json",)))


StartNode = Callable[..., Awaitable[Node]]


def node_settings(cluster: EmbeddedCluster, node_id: str, **overrides: Any) -> Settings:
    port = free_port()
    return make_settings(
        cluster.url,
        **{
            **RELAXED,
            **CLUSTER_MODE,
            "node.id": node_id,
            "server.port": port,
            "node.advertised_url": f"http://127.0.0.1:{port}",
            **overrides,
        },
    )


@pytest.fixture
async def start_node(redis_cluster: EmbeddedCluster, seeded: Any) -> AsyncIterator[StartNode]:
    """``await start_node("a", **overrides)``: a node in cluster mode, stopped after the test."""
    nodes: list[Node] = []

    async def start(node_id: str, **overrides: Any) -> Node:
        settings = node_settings(redis_cluster, node_id, **overrides)
        server = TestServer(create_app(settings), port=settings.server.port)
        await server.start_server()
        node = Node(server, settings)
        nodes.append(node)
        return node

    yield start
    for node in reversed(nodes):
        await node.server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def close_frame(ws: Socket, timeout: float = 5) -> int | None:
    """The code of the close frame ``ws`` receives (what a browser's CloseEvent shows;
    aiohttp's own ``close_code`` may say 1006 when the server hangs up right after it)."""
    while True:
        msg = await ws.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            code: int = msg.data
            return code
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return None
