"""Accounts and sessions: registration, login, refresh (single use) and logout (revocation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from apis.gateway import revocations
from apis.state import AppState
from apis.users.schemas import TokenPair, User
from core import outbox
from core.auth import (
    Claims,
    decode_token,
    hash_password,
    issue_token,
    revocation_key,
    verify_password,
)
from core.errors import Conflict, Unauthenticated
from core.events import UserRegisteredV1
from core.ids import new_id

_USER_COLUMNS = "user_id::text, email, display_name, role, created_at"


def _user(row: dict[str, Any]) -> User:
    return User(row["user_id"], row["email"], row["display_name"], row["role"], row["created_at"])


async def register(state: AppState, email: str, password: str, name: str, role: str) -> User:
    user_id = new_id()
    password_hash = hash_password(password)
    async with state.pool.connection() as conn, conn.transaction():
        try:
            cur = await conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                f" values (%s, %s, %s, %s, %s) returning {_USER_COLUMNS}",
                (user_id, email.lower(), name, role, password_hash),
            )
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"an account with e-mail {email.lower()} already exists") from exc
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            UserRegisteredV1(user_id=str(user_id), role=role, registered_at=row["created_at"]),
        )
    return _user(row)


async def get_user(state: AppState, user_id: str) -> User | None:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_USER_COLUMNS} from users.accounts where user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return _user(row) if row else None


def _issue_pair(state: AppState, user: User) -> TokenPair:
    settings = state.settings
    access_life = timedelta(minutes=settings.access_token_minutes)
    access, _ = issue_token(settings.jwt_secret, user.user_id, user.role, "access", access_life)
    refresh, _ = issue_token(
        settings.jwt_secret,
        user.user_id,
        user.role,
        "refresh",
        timedelta(days=settings.refresh_token_days),
    )
    return TokenPair(access, refresh, "Bearer", int(access_life.total_seconds()), user)


async def login(state: AppState, email: str, password: str) -> TokenPair:
    async with state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"select {_USER_COLUMNS}, password_hash from users.accounts where email = %s",
            (email.lower(),),
        )
        row = await cur.fetchone()
    # Same message for unknown e-mail and wrong password: do not reveal which accounts exist.
    if row is None or not verify_password(row["password_hash"], password):
        raise Unauthenticated("e-mail or password is wrong")
    return _issue_pair(state, _user(row))


async def revoke(state: AppState, claims: Claims) -> None:
    """Revoke an access token: stored in Redis (the truth), announced to every API process's
    mirror, and effective in this one at once."""
    ttl = int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1
    if ttl > 0:
        expires = claims.expires_at.timestamp()
        pipe = state.redis.pipeline(transaction=True)
        pipe.set(revocation_key(claims.token_id), "1", ex=ttl)
        pipe.publish(revocations.CHANNEL, revocations.message(claims.token_id, expires))
        await pipe.execute()
        if state.revocations is not None:
            state.revocations.add(claims.token_id, expires)


async def refresh(state: AppState, refresh_token: str) -> TokenPair:
    claims = decode_token(state.settings.jwt_secret, refresh_token, "refresh")
    # SET NX makes the refresh token single-use even under concurrent requests.
    ttl = max(1, int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1)
    first_use = await state.redis.set(revocation_key(claims.token_id), "1", ex=ttl, nx=True)
    if not first_use:
        raise Unauthenticated("refresh token was already used or revoked")
    user = await get_user(state, claims.user_id)
    if user is None:
        raise Unauthenticated("the account of this token no longer exists")
    return _issue_pair(state, user)


async def logout(state: AppState, access: Claims, refresh_token: str | None) -> None:
    await revoke(state, access)
    if refresh_token:
        refresh_claims = decode_token(state.settings.jwt_secret, refresh_token, "refresh")
        if refresh_claims.user_id != access.user_id:
            raise Unauthenticated("the refresh token belongs to another account")
        await revoke(state, refresh_claims)
