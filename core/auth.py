"""Tokens (JWT, HS256) shared by every door; the synchronous password helpers are re-exported
from `core.passwords` (servers hash off the event loop with `core.passwords.PasswordWorkers`).

Access tokens are short-lived; refresh tokens live longer and are single-use. Revocation (logout,
deactivation) is `core.revocation`; sign-in, refresh and sign-out are `core.sessions`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from core.errors import Unauthenticated
from core.passwords import hash_password as hash_password
from core.passwords import verify_password as verify_password
from core.revocation import TOKEN_PREFIX, token_key

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
REVOKED_PREFIX = TOKEN_PREFIX


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    role: str
    token_id: str
    token_type: TokenType
    expires_at: datetime
    issued_at: float = 0.0  # unix time, sub-second: a user-wide revocation cuts at an instant


def issue_token(
    secret: str, user_id: str, role: str, token_type: TokenType, lifetime: timedelta
) -> tuple[str, Claims]:
    if not secret:
        raise RuntimeError("DREAMSEED_JWT_SECRET is empty: run `dreamseed up` or set it")
    now = datetime.now(UTC)
    claims = Claims(
        user_id, role, secrets.token_hex(16), token_type, now + lifetime, now.timestamp()
    )
    payload = {
        "sub": user_id,
        "role": role,
        "jti": claims.token_id,
        "typ": token_type,
        "iat": claims.issued_at,  # a float: NumericDate allows fractions
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(secret: str, token: str, expected: TokenType) -> Claims:
    """Verify signature, expiry and type; raise Unauthenticated with the reason otherwise."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "jti"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    if payload.get("typ") != expected:
        raise Unauthenticated(f"expected an {expected} token")
    return Claims(
        user_id=str(payload["sub"]),
        role=str(payload.get("role", "")),
        token_id=str(payload["jti"]),
        token_type=expected,
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        issued_at=float(payload.get("iat", 0.0)),
    )


# Tokens this process has verified, by (secret, token, type): (claims, expiry as a timestamp).
VERIFIED_TOKENS_MAX = 20_000
_verified: dict[tuple[str, str, str], tuple[Claims, float]] = {}


def decode_token_cached(secret: str, token: str, expected: TokenType) -> Claims:
    """`decode_token`, remembered: a token's signature and claims cannot change, so once this
    process has verified it only its expiry is checked again. (Revocation is not a property of
    the token: callers still check it on every request.)"""
    key = (secret, token, expected)
    hit = _verified.get(key)
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        del _verified[key]
        raise Unauthenticated("token has expired")
    claims = decode_token(secret, token, expected)
    if len(_verified) >= VERIFIED_TOKENS_MAX:
        del _verified[next(iter(_verified))]  # the oldest
    _verified[key] = (claims, claims.expires_at.timestamp())
    return claims


def revocation_key(token_id: str) -> str:
    return token_key(token_id)
