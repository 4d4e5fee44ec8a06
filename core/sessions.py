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
from uuid import UUID

from redis.asyncio import Redis

from core import accounts, revocation
from core.accounts import Account, ConnectionFactory
from core.auth import Claims, decode_token, issue_token
from core.db import connect_once
from core.errors import Forbidden, Unauthenticated
from core.login_throttle import LoginThrottle
from core.passwords import PasswordWorkers
from core.settings import Settings

WRONG_CREDENTIALS = "e-mail or password is wrong"  # the same for an unknown e-mail: no hint
DEACTIVATED = "this account has been deactivated; ask an administrator"


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
        if not account.active:  # only said to whoever knows the password; still counted
            raise Forbidden(DEACTIVATED)
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
        if account is None or not account.active:
            raise Unauthenticated("the account of this token no longer exists or is deactivated")
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

    async def revoke_user(self, user_id: str) -> None:
        """Revoke every token of a user issued until now (within a second in every process)."""
        longest = max(
            self.settings.access_token_minutes * 60, self.settings.refresh_token_days * 86_400
        )
        cutoff = await revocation.revoke_user(self._redis, user_id, longest)
        if self._on_published:
            self._on_published(revocation.user_message(user_id, cutoff, cutoff + longest))

    # -- accounts (administration) ------------------------------------------------------------
    # Callers check the policy first (the API's guard, the CLI's operator decision).

    async def create_account(
        self, email: str, password: str, display_name: str, role: str
    ) -> Account:
        password_hash = await self.passwords.hash(password)
        async with self._connect() as conn:
            return await accounts.create(conn, email, display_name, role, password_hash)

    async def get_account(self, user_id: str) -> Account | None:
        async with self._connect() as conn:
            return await accounts.by_id(conn, user_id)

    async def find_account(self, email_or_id: str) -> Account | None:
        """By e-mail (anything with an @) or by user id."""
        if "@" in email_or_id:
            async with self._connect() as conn:
                found = await accounts.by_email(conn, email_or_id)
            return found[0] if found else None
        try:
            return await self.get_account(str(UUID(email_or_id)))
        except ValueError:
            return None

    async def list_accounts(
        self,
        *,
        role: str | None = None,
        active: bool | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Account]:
        async with self._connect() as conn:
            return await accounts.list_accounts(
                conn, role=role, active=active, after=after, limit=limit
            )

    async def deactivate(self, user_id: str) -> Account:
        """Deactivate the account and revoke its tokens (sign-in and refresh are refused).
        Idempotent: a repeat revokes again, which mends a revocation lost to a Redis error."""
        async with self._connect() as conn:
            account, _ = await accounts.deactivate(conn, user_id)
        await self.revoke_user(user_id)  # after the commit: no token can be issued past it
        return account

    async def set_role(self, user_id: str, role: str) -> Account:
        """Change the role and revoke the account's tokens (they carry the old role)."""
        async with self._connect() as conn:
            account, changed = await accounts.set_role(conn, user_id, role)
        if changed:
            await self.revoke_user(user_id)
        return account


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
