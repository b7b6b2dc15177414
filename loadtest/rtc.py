"""aiortc peers as load-test bots set them up: ICE policy, codecs, connection waits.

Bots talk to servers on loopback (the tests, ``--spawn-server``, the loopback-only
network namespace) or elsewhere. aioice never offers 127.0.0.1 as a host candidate, so
a bot whose server is on loopback gathers there explicitly (``rtc_compat.gather_on``);
otherwise it gathers on the machine's interfaces and uses the ICE servers the server's
``joined`` message lists. Nothing ever falls back to aiortc's default public STUN server.
This is the client's own policy: nothing of the server's ICE set-up is used.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender

from loadtest.rtc_compat import gather_on

LOOPBACK = ("127.0.0.1",)


@dataclass(frozen=True)
class IcePolicy:
    """A bot's ICE: the addresses it gathers on (empty: aioice's choice) and its servers."""

    addresses: tuple[str, ...]
    ports: None  # bots take OS-chosen ports
    ice_servers: tuple[RTCIceServer, ...]

    def rtc_configuration(self) -> RTCConfiguration:
        # An explicit (possibly empty) list: aiortc's default is a public STUN server.
        return RTCConfiguration(iceServers=list(self.ice_servers))


class ConnectFailed(RuntimeError):
    """A peer connection failed or closed before it connected."""


def loopback_policy() -> IcePolicy:
    return IcePolicy(addresses=LOOPBACK, ports=None, ice_servers=())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def policy_for(host: str, ice_servers: list[dict[str, Any]] | None = None) -> IcePolicy:
    """The ICE policy for a bot talking to a server at ``host``."""
    if is_loopback(host):
        return loopback_policy()
    servers = tuple(
        RTCIceServer(
            urls=[s["urls"]] if isinstance(s.get("urls"), str) else list(s.get("urls", ())),
            username=s.get("username") or None,
            credential=s.get("credential") or None,
        )
        for s in ice_servers or ()
    )
    return IcePolicy(addresses=(), ports=None, ice_servers=servers)


def configure_peer(pc: RTCPeerConnection, policy: IcePolicy) -> None:
    """Apply ``policy``'s addresses to ``pc``'s ICE connections that have not gathered yet
    (after adding transceivers, before ``setLocalDescription``)."""
    if policy.addresses:
        gather_on(pc, policy.addresses)


def new_peer(policy: IcePolicy | None = None) -> RTCPeerConnection:
    # An explicit list, empty by default: aiortc's default is a public STUN server.
    if policy is None:
        return RTCPeerConnection(RTCConfiguration(iceServers=[]))
    return RTCPeerConnection(policy.rtc_configuration())


def prefer_forwarded_codecs(pc: RTCPeerConnection) -> None:
    """VP8 and Opus only: what Salon forwards (and what the fan-out relays both carry)."""
    wanted = {"video": ("video/vp8", "video/rtx"), "audio": ("audio/opus",)}
    for transceiver in pc.getTransceivers():
        if transceiver.kind not in wanted:
            continue
        codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
        transceiver.setCodecPreferences(
            [c for c in codecs if c.mimeType.lower() in wanted[transceiver.kind]]
        )


async def wait_connected(pc: RTCPeerConnection) -> None:
    """Return once ICE and DTLS are up; raise if they fail (callers bound the wait)."""
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed"):
            raise ConnectFailed(f"peer connection is {pc.connectionState}, not connected")
        await asyncio.sleep(0.05)
