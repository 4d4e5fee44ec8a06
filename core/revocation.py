"""Token revocation, the one protocol every door uses (API, dashboards, CLI, administration).

Redis is the truth:
- `auth:revoked:<token id>`: that token is revoked (TTL: the token's remaining life);
- `auth:revoked-user:<user id>` = unix time T: every token of that user issued before T is
  revoked (deactivation, role change; TTL: the longest token life).

Every revocation is also published on `auth:revocations`, in the same MULTI as the key, so that
API processes, which mirror the list in memory (`apis.gateway.revocations`), refuse the token
within a network hop. Doors without a mirror (dashboards, CLI) ask Redis (`is_revoked`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from core.auth import Claims

CHANNEL = "auth:revocations"
TOKEN_PREFIX = "auth:revoked:"  # noqa: S105 - a Redis key prefix, not a secret
USER_PREFIX = "auth:revoked-user:"
USER_MESSAGE = "user:"


def token_key(token_id: str) -> str:
    return TOKEN_PREFIX + token_id


def user_key(user_id: str) -> str:
    return USER_PREFIX + user_id


def token_message(token_id: str, expires_at: float) -> str:
    """Published for one token: `<token id> <unix expiry>`."""
    return f"{token_id} {expires_at:.0f}"


def user_message(user_id: str, cutoff: float, expires_at: float) -> str:
    """Published for every token of a user: `user:<user id> <unix expiry> <cutoff>`."""
    return f"{USER_MESSAGE}{user_id} {expires_at:.0f} {cutoff:.6f}"


def remaining_seconds(expires_at: datetime) -> int:
    """Whole seconds until `expires_at`, rounded up (0 when already past)."""
    return max(0, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)


async def revoke_token(redis: Redis, claims: Claims) -> bool:
    """Revoke one token (key + announcement in one MULTI); False when it had expired anyway."""
    ttl = remaining_seconds(claims.expires_at)
    if ttl <= 0:
        return False
    pipe = redis.pipeline(transaction=True)
    pipe.set(token_key(claims.token_id), "1", ex=ttl)
    pipe.publish(CHANNEL, token_message(claims.token_id, claims.expires_at.timestamp()))
    await pipe.execute()
    return True


async def revoke_user(redis: Redis, user_id: str, longest_life_seconds: int) -> float:
    """Revoke every token of `user_id` issued until now; returns the cutoff (unix time)."""
    cutoff = time.time()
    expires = cutoff + longest_life_seconds
    pipe = redis.pipeline(transaction=True)
    pipe.set(user_key(user_id), f"{cutoff:.6f}", ex=longest_life_seconds + 1)
    pipe.publish(CHANNEL, user_message(user_id, cutoff, expires))
    await pipe.execute()
    return cutoff


async def is_revoked(redis: Redis, claims: Claims) -> bool:
    """Ask Redis (one round trip) whether this token, or every token of its user, is revoked.
    Redis errors propagate: callers fail closed."""
    pipe = redis.pipeline(transaction=False)
    pipe.exists(token_key(claims.token_id))
    pipe.get(user_key(claims.user_id))
    exists, cutoff = await pipe.execute()
    if exists:
        return True
    return cutoff is not None and claims.issued_at < float(cutoff)


async def claim_once(redis: Redis, claims: Claims) -> bool:
    """Single use: mark the token revoked; False if it already was (SET NX is atomic)."""
    ttl = max(1, remaining_seconds(claims.expires_at))
    first = await redis.set(token_key(claims.token_id), "1", ex=ttl, nx=True)
    return bool(first)
