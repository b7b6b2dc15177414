"""Signed entry tokens (JWT, HS256): who may enter which room, as what, until when."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from server.ids import MemberId, RoomId, is_valid_id
from server.rooms.errors import TokenExpired, TokenInvalid, WrongRoom
from server.rooms.model import Role

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    member_id: MemberId
    room_id: RoomId
    role: Role
    expires_at: int
    token_id: str


def mint_token(
    secret: str,
    member_id: MemberId,
    room_id: RoomId,
    role: Role = Role.MEMBER,
    ttl: int = 3600,
    issuer: str = "salon",
    now: float | None = None,
) -> str:
    """Return a token that lets ``member_id`` enter ``room_id`` as ``role`` for ``ttl`` s."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": member_id,
        "room": room_id,
        "role": role.value,
        "iat": issued,
        "exp": issued + ttl,
        "iss": issuer,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, room_id: RoomId, issuer: str = "salon") -> TokenClaims:
    """Check signature, expiry, issuer and room; return the claims or raise a refusal."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["sub", "room", "role", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.InvalidSignatureError:
        raise TokenInvalid("signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenInvalid("missing_claim", claim=str(exc.claim)) from None
    except jwt.InvalidTokenError:
        raise TokenInvalid("malformed") from None
    member, room, role = claims.get("sub"), claims.get("room"), claims.get("role")
    if not is_valid_id(member) or not is_valid_id(room):
        raise TokenInvalid("no_subject")
    if role not in (Role.HOST.value, Role.MEMBER.value):
        raise TokenInvalid("bad_role")
    if room != room_id:
        raise WrongRoom(str(room), room_id)
    return TokenClaims(
        member_id=MemberId(str(member)),
        room_id=RoomId(str(room)),
        role=Role(role),
        expires_at=int(claims["exp"]),
        token_id=str(claims.get("jti", "")),
    )


def peek_room(token: str) -> RoomId | None:
    """The room a token names, without verifying it (to route a join to its room)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    room = claims.get("room")
    return RoomId(str(room)) if is_valid_id(room) else None
