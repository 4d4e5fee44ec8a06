"""The auth service: sign-in, refresh, sign-out and token checks, one implementation for every
door (the API, the dashboards, the `dreamseed` command).

    service = AuthService(settings, pool.connection, redis, PasswordWorkers())
    session = await service.sign_in(email, password, client=ip)    # tokens, or 401/429/503
    claims = await service.check_access(token)                      # signature + revocation
    await service.sign_out(claims)                                  # revoked everywhere

Revocation always goes through `core.revocation` (Redis key + announcement), so every API process
refuses a token revoked through any door within a network hop. `on_published` lets the API apply
its own revocations to its in-process mirror at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from redis.asyncio import Redis

from core import accounts, revocation
from core.accounts import Account, ConnectionFactory
from core.auth import Claims, decode_token, issue_token
from core.db import connect_once
from core.errors import Unauthenticated
from core.login_throttle import LoginThrottle
from core.passwords import PasswordWorkers
from core.settings import Settings

WRONG_CREDENTIALS = "e-mail or password is wrong"  # the same for an unknown e-mail: no hint


@dataclass(frozen=True, slots=True)
class Session:
    account: Account
    access_token: str
    access: Claims
    refresh_token: str | None
    refresh: Claims | None


class AuthService:
    def __init__(
        self,
        settings: Settings,
        connect: ConnectionFactory,
        redis: Redis,
        passwords: PasswordWorkers,
        *,
        on_published: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.passwords = passwords
        self._connect = connect
        self._redis = redis
        self._on_published = on_published
        self.throttle = LoginThrottle(redis, settings)

    # -- sign-in ------------------------------------------------------------------------------

    async def sign_in(
        self, email: str, password: str, *, client: str = "", with_refresh: bool = True
    ) -> Session:
        """Check the password (off the event loop) and issue tokens.

        Raises TooManyRequests (429, Retry-After) when a failed-sign-in window is full,
        Unauthenticated for a wrong e-mail or password (the same work and answer either way),
        ServiceUnavailable when too many password checks are waiting. `client` is the caller's
        address, for the throttles."""
        attempt = await self.throttle.acquire(email, client)
        try:
            async with self._connect() as conn:
                found = await accounts.by_email(conn, email)
            account, password_hash = found if found is not None else (None, None)
            verified = await self.passwords.verify(password_hash, password)
        except BaseException:
            with contextlib.suppress(Exception):  # not judged: it must not count as a failure
                await self.throttle.release(attempt)
            raise
        if account is None or not verified:
            raise Unauthenticated(WRONG_CREDENTIALS)  # the reserved slots stay: a failure
        await self.throttle.succeeded(attempt)
        return self._issue(account, with_refresh)

    def _issue(self, account: Account, with_refresh: bool) -> Session:
        secret = self.settings.jwt_secret
        access_token, access = issue_token(
            secret,
            account.user_id,
            account.role,
            "access",
            timedelta(minutes=self.settings.access_token_minutes),
        )
        refresh_token, refresh = None, None
        if with_refresh:
            refresh_token, refresh = issue_token(
                secret,
                account.user_id,
                account.role,
                "refresh",
                timedelta(days=self.settings.refresh_token_days),
            )
        return Session(account, access_token, access, refresh_token, refresh)

    async def refresh(self, refresh_token: str) -> Session:
        """Exchange a refresh token (single use) for a new pair, with the account's current role."""
        claims = decode_token(self.settings.jwt_secret, refresh_token, "refresh")
        if await revocation.is_revoked(self._redis, claims):
            raise Unauthenticated("refresh token was already used or revoked")
        if not await revocation.claim_once(self._redis, claims):
            raise Unauthenticated("refresh token was already used or revoked")
        async with self._connect() as conn:
            account = await accounts.by_id(conn, claims.user_id)
        if account is None:
            raise Unauthenticated("the account of this token no longer exists")
        return self._issue(account, with_refresh=True)

    # -- tokens -------------------------------------------------------------------------------

    def decode(self, token: str) -> Claims:
        """Signature, expiry and type of an access token (no revocation check)."""
        return decode_token(self.settings.jwt_secret, token, "access")

    async def check_access(self, token: str) -> Claims:
        """An access token's claims if it is valid and not revoked (asks Redis; Redis errors
        propagate, so callers fail closed). The API checks its in-process mirror instead."""
        claims = self.decode(token)
        if await revocation.is_revoked(self._redis, claims):
            raise Unauthenticated("token has been revoked")
        return claims

    # -- sign-out -----------------------------------------------------------------------------

    async def revoke(self, claims: Claims) -> None:
        """Revoke one token everywhere (every API process refuses it within a network hop)."""
        if await revocation.revoke_token(self._redis, claims) and self._on_published:
            self._on_published(
                revocation.token_message(claims.token_id, claims.expires_at.timestamp())
            )

    async def sign_out(self, access: Claims, refresh_token: str | None = None) -> None:
        """Revoke the access token, and the refresh token when given (it must be the same user's)."""
        await self.revoke(access)
        if refresh_token:
            refresh = decode_token(self.settings.jwt_secret, refresh_token, "refresh")
            if refresh.user_id != access.user_id:
                raise Unauthenticated("the refresh token belongs to another account")
            await self.revoke(refresh)

    async def sign_out_token(self, token: str) -> bool:
        """Revoke an access token given as a string; False when it is invalid or expired (then
        there is nothing left to revoke)."""
        try:
            claims = self.decode(token)
        except Unauthenticated:
            return False
        await self.revoke(claims)
        return True


@asynccontextmanager
async def open_auth_service(settings: Settings) -> AsyncIterator[AuthService]:
    """A service with its own Redis client, one connection per unit of work and one hashing
    thread: for commands and scripts (servers build theirs on their shared pool and client)."""
    redis = Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)
    passwords = PasswordWorkers(workers=1)
    try:
        yield AuthService(settings, partial(connect_once, settings.database_url), redis, passwords)
    finally:
        passwords.close()
        await redis.aclose()
