"""Entry tokens: signature, expiry, room binding and claims."""

from __future__ import annotations

import jwt
import pytest

from server.ids import MemberId, RoomId
from server.rooms.errors import TokenExpired, TokenInvalid, WrongRoom
from server.rooms.model import Role
from server.rooms.tokens import mint_token, peek_room, verify_token

SECRET = "unit-test-secret-0123456789abcdef"
A, B = RoomId("room-a"), RoomId("room-b")


def test_valid_token_gives_its_claims() -> None:
    tok = mint_token(SECRET, MemberId("ava"), A, Role.HOST, ttl=60)
    claims = verify_token(SECRET, tok, A)
    assert (claims.member_id, claims.room_id, claims.role) == ("ava", "room-a", Role.HOST)
    assert peek_room(tok) == A


def test_token_for_room_a_never_opens_room_b() -> None:
    tok = mint_token(SECRET, MemberId("ava"), A)
    with pytest.raises(WrongRoom) as caught:
        verify_token(SECRET, tok, B)
    assert caught.value.params == {"token_room": "room-a", "room": "room-b"}


def test_forged_signature_is_refused() -> None:
    tok = mint_token("another-secret-of-enough-length!", MemberId("ava"), A)
    with pytest.raises(TokenInvalid) as caught:
        verify_token(SECRET, tok, A)
    assert caught.value.params == {"case": "signature"}


def test_expired_token_is_refused() -> None:
    tok = mint_token(SECRET, MemberId("ava"), A, ttl=10, now=1_000)
    with pytest.raises(TokenExpired):
        verify_token(SECRET, tok, A)


@pytest.mark.parametrize(
    "claims",
    [
        {"room": "room-a", "role": "member", "exp": 2**40, "iss": "salon"},  # no sub
        {"sub": "ava", "role": "member", "exp": 2**40, "iss": "salon"},  # no room
        {"sub": "ava", "room": "room-a", "role": "king", "exp": 2**40, "iss": "salon"},
        {"sub": "a b", "room": "room-a", "role": "member", "exp": 2**40, "iss": "salon"},
        {"sub": "ava", "room": "room-a", "role": "member", "exp": 2**40, "iss": "other"},
    ],
)
def test_tokens_with_bad_claims_are_refused(claims: dict[str, object]) -> None:
    tok = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, tok, A)


@pytest.mark.parametrize("tok", ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_and_unsigned_tokens_are_refused(tok: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, tok, A)
    assert peek_room(tok) is None


def test_alg_none_token_is_refused() -> None:
    tok = jwt.encode(
        {"sub": "ava", "room": "room-a", "role": "host", "exp": 2**40, "iss": "salon"},
        key=None,
        algorithm="none",
    )
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, tok, A)
