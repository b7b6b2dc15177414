"""Entry tokens minted on the client side from the server's secret (``--secret``).

A Salon entry token is a JWT (HS256) whose claims are part of the protocol: ``sub`` (the
member), ``room``, ``role`` (``host`` or ``member``), ``iat``, ``exp``, ``iss`` and a
unique ``jti``. An operator's backend that holds the secret mints them itself, the way
LiveKit's server SDKs mint access tokens, instead of one ``POST /api/tokens`` per member;
the load tester does the same for thousands of bots. A contract test checks that the
server accepts what this module mints.
"""

from __future__ import annotations

import time
import uuid

import jwt

ISSUER = "salon"  # the server's default ``auth.issuer``


def entry_token(secret: str, member: str, room: str, role: str, ttl: int) -> str:
    """A token that lets ``member`` into ``room`` as ``role`` for ``ttl`` seconds from now."""
    now = int(time.time())
    claims: dict[str, str | int] = {
        "sub": member,
        "room": room,
        "role": role,
        "iss": ISSUER,
        "jti": uuid.uuid4().hex,
    }
    claims |= {"iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")
