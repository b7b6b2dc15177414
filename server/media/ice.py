"""Which addresses and UDP ports the server's ICE agents use.

aioice gathers host candidates on every interface except loopback and binds OS-chosen
ports; it has no setting for either. A server must announce the addresses it is reached
on (127.0.0.1 in a loopback-only test network, a public address behind NAT) and keep
media inside a firewall's port range. ``configure_peer`` replaces candidate gathering on
each ICE connection of a peer connection, before ``setLocalDescription`` gathers.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aioice import turn
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, server_reflexive_candidate
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from server.media.aiortc_compat import (
    Gather,
    add_ice_protocols,
    ice_connection,
    take_over_gathering,
)
from server.media.forwarders import check_media
from server.settings import IceServer, MediaSettings

logger = logging.getLogger(__name__)


class PortsExhausted(OSError):
    """Every UDP port of the configured range is in use."""


@dataclass
class PortAllocator:
    """Binds UDP sockets inside ``[low, high]``, round robin so ports are reused late."""

    low: int
    high: int

    def __post_init__(self) -> None:
        self._cursor = itertools.cycle(range(self.low, self.high + 1))

    def bind(self, address: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for _ in range(self.high - self.low + 1):
            port = next(self._cursor)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((address, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            return sock
        raise PortsExhausted(f"no free UDP port in {self.low}-{self.high} on {address}")


@dataclass(frozen=True)
class IcePolicy:
    """What every server-side ICE agent gathers: addresses, port range, STUN/TURN."""

    addresses: tuple[str, ...]
    ports: PortAllocator | None
    ice_servers: tuple[IceServer, ...]

    @classmethod
    def from_settings(cls, media: MediaSettings) -> IcePolicy:
        """The policy the server starts with; refuses (``SettingsError``) to start the
        packet path on an aiortc whose internals it cannot reach."""
        check_media(media.forwarding)
        ports = None
        if media.rtp_port_min and media.rtp_port_max:
            ports = PortAllocator(media.rtp_port_min, media.rtp_port_max)
        return cls(media.ice_addresses, ports, media.ice_servers)

    def rtc_configuration(self) -> RTCConfiguration:
        # An explicit (possibly empty) list: aiortc's default is a public STUN server.
        servers = [
            RTCIceServer(
                urls=list(s.urls), username=s.username or None, credential=s.credential or None
            )
            for s in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    def browser_ice_servers(self) -> list[dict[str, Any]]:
        """The same servers in the shape a browser's ``RTCPeerConnection`` takes."""
        out: list[dict[str, Any]] = []
        for s in self.ice_servers:
            entry: dict[str, Any] = {"urls": list(s.urls)}
            if s.username:
                entry["username"] = s.username
                entry["credential"] = s.credential
            out.append(entry)
        return out


def configure_peer(pc: RTCPeerConnection, policy: IcePolicy) -> None:
    """Apply ``policy`` to every ICE connection of ``pc`` that has not gathered yet."""
    if not policy.addresses and policy.ports is None:
        return
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        connection: Any = ice_connection(dtls)
        take_over_gathering(connection, functools.partial(_gatherer, connection, policy))


def _gatherer(connection: Any, policy: IcePolicy, original: Gather) -> Gather:

    async def get_component_candidates(
        component: int, addresses: Sequence[str], timeout: int = 5
    ) -> list[Candidate]:
        wanted = list(policy.addresses) or list(addresses)
        loop = asyncio.get_running_loop()
        candidates: list[Candidate] = []
        protocols: list[StunProtocol] = []
        for address in wanted:
            try:
                if policy.ports is not None:
                    sock = policy.ports.bind(address)
                else:
                    sock = socket.socket(
                        socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM
                    )
                    sock.bind((address, 0))
                    sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(connection), sock=sock
                )
            except OSError as exc:
                logger.warning("ICE: cannot bind a UDP port on %s: %s", address, exc)
                continue
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
            protocols.append(protocol)
        add_ice_protocols(connection, protocols)
        if connection.stun_server:
            tasks = [
                asyncio.create_task(server_reflexive_candidate(p, connection.stun_server))
                for p in protocols
                if ":" not in p.local_candidate.host
            ]
            if tasks:
                done, pending = await asyncio.wait(tasks, timeout=timeout)
                candidates += [t.result()[0] for t in done if t.exception() is None]
                for task in pending:
                    task.cancel()
        if connection.turn_server:
            # aioice's own gathering with no host addresses does just the TURN allocation.
            candidates += await original(component=component, addresses=[], timeout=timeout)
        return candidates

    return get_component_candidates
