"""aiortc peers as load-test bots set them up: ICE policy, codecs, connection waits.

Bots talk to servers on loopback (the tests, ``--spawn-server``, the loopback-only
network namespace) or elsewhere. aioice never offers 127.0.0.1 as a host candidate, so
a bot whose server is on loopback gathers there explicitly (the server's own
``--ice-address`` setting, applied on the client side); otherwise it gathers on the
machine's interfaces and uses the ICE servers the server's ``joined`` message lists.
Nothing ever falls back to aiortc's default public STUN server.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender

from server.media.ice import IcePolicy
from server.settings import IceServer

LOOPBACK = ("127.0.0.1",)


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
        IceServer(
            urls=tuple([s["urls"]] if isinstance(s.get("urls"), str) else s.get("urls", ())),
            username=str(s.get("username", "")),
            credential=str(s.get("credential", "")),
        )
        for s in ice_servers or ()
    )
    return IcePolicy(addresses=(), ports=None, ice_servers=servers)


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
