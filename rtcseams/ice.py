"""ICE: gathering candidates on the addresses and ports the caller names (aioice never
offers 127.0.0.1), handing it sockets gathered elsewhere, and the tests' packet loss on
a transport's incoming datagrams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

Gather = Callable[..., Awaitable[list[Any]]]

_GATHERED_ON = "_loadtest_gathers_on"


class _GatheringConnection(Protocol):
    """aioice's ``Connection``: gathers host candidates on the addresses it is handed."""

    get_component_candidates: Gather


class _HasIceConnection(Protocol):
    """aiortc's ``RTCIceGatherer`` keeps its aioice connection private."""

    _connection: _GatheringConnection


def ice_connection(dtls: RTCDtlsTransport) -> Any:
    """The aioice ``Connection`` behind a DTLS transport's ICE gatherer."""
    return cast(Any, dtls.transport.iceGatherer)._connection


def add_ice_protocols(connection: Any, protocols: list[Any]) -> None:
    """Hand sockets gathered outside aioice to ``connection`` (it reads and closes them)."""
    connection._protocols += protocols


def take_over_gathering(connection: Any, make: Callable[[Gather], Gather]) -> bool:
    """Replace ``connection``'s candidate gathering by ``make(aioice's own)``, once.

    False when it was replaced already (a connection shared by BUNDLEd transceivers).
    """
    if getattr(connection, "_salon_gathering", False):
        return False
    original: Gather = connection.get_component_candidates
    connection._salon_gathering = True
    connection.get_component_candidates = make(original)
    return True


def filter_incoming(ice_transport: Any, keep: Callable[[bytes], bool]) -> None:
    """Drop the datagrams an ICE transport receives for which ``keep`` is False (tests
    inject loss this way: the kernel here has no ``netem``)."""
    original: Callable[[], Awaitable[bytes]] = ice_transport._recv

    async def recv() -> bytes:
        while True:
            data = await original()
            if keep(data):
                return data

    ice_transport._recv = recv


def _ice_connections(pc: RTCPeerConnection) -> list[_GatheringConnection]:
    found: list[_GatheringConnection] = []
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        gatherer = cast(_HasIceConnection, dtls.transport.iceGatherer)
        if all(c is not gatherer._connection for c in found):
            found.append(gatherer._connection)
    return found


def gather_on(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Make every ICE connection of ``pc`` that has not gathered yet use ``addresses``.

    Call after adding transceivers and before ``setLocalDescription``; calling it again
    (a renegotiation that added transceivers) leaves connections already set alone.
    """
    wanted = list(addresses)
    for connection in _ice_connections(pc):
        if getattr(connection, _GATHERED_ON, None) is not None:
            continue
        own = connection.get_component_candidates

        async def on_ours(
            component: int, addresses: list[str], timeout: int = 5, _own: Gather = own
        ) -> list[Any]:
            return await _own(component=component, addresses=wanted, timeout=timeout)

        connection.get_component_candidates = on_ours
        setattr(connection, _GATHERED_ON, tuple(wanted))
