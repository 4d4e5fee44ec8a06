"""Process-wide connections of the dashboards app: one PostgreSQL pool, one Redis client, and the
auth service (`core.sessions`) on top of them.

Both are opened lazily on first use (so the app works whether or not the ASGI server runs the
lifespan protocol, e.g. under httpx's ASGITransport) and closed by the app's lifespan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from psycopg import AsyncConnection

from core.db import Pool, create_pool
from core.passwords import PasswordWorkers
from core.sessions import AuthService
from core.settings import Settings
from governance import Decision
from governance.decision_log import DecisionLog


class Resources:
    """The dashboards' shared clients; create one per app, never per request."""

    def __init__(self, settings: Settings, *, pool_max_size: int = 10) -> None:
        self.settings = settings
        self._pool_max_size = pool_max_size
        self._pool: Pool | None = None
        self._redis: aioredis.Redis | None = None
        self._decision_log: DecisionLog | None = None
        self._auth: AuthService | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> Pool:
        """The opened connection pool (dict rows); raises psycopg errors if PostgreSQL is down."""
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                pool = create_pool(
                    self.settings.database_url, min_size=1, max_size=self._pool_max_size
                )
                await pool.open(wait=True, timeout=10)
                self._pool = pool
        return self._pool

    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self.settings.redis_url, socket_timeout=3, socket_connect_timeout=3
            )
        return self._redis

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection for one unit of work (the auth service's connection factory)."""
        pool = await self.pool()
        async with pool.connection() as conn:
            yield conn

    def auth(self) -> AuthService:
        """Sign-in, sign-out and token checks: the same service as the API's and the CLI's."""
        if self._auth is None:
            passwords = PasswordWorkers(
                self.settings.password_workers, self.settings.password_queue_limit
            )
            self._auth = AuthService(self.settings, self.connection, self.redis(), passwords)
        return self._auth

    async def record_decision(self, decision: Decision) -> bool:
        """Queue a policy decision for `governance.decisions` (never blocks).

        False when the audit log refused it (buffer full after a long PostgreSQL outage):
        callers then refuse to serve rather than act un-audited.
        """
        if self._decision_log is None:
            decision_log = DecisionLog(self.settings.database_url)
            await decision_log.start()
            self._decision_log = decision_log
        return self._decision_log.record(decision)

    async def flush_decisions(self) -> None:
        """Wait until every decision recorded so far is written (tests, shutdown)."""
        if self._decision_log is not None:
            await self._decision_log.flush()

    async def fetch_all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        """Run one read-only query and return its rows as dicts."""
        pool = await self.pool()
        async with pool.connection() as conn:
            await conn.set_read_only(True)
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def close(self) -> None:
        if self._auth is not None:
            self._auth.passwords.close()
            self._auth = None
        if self._decision_log is not None:
            await self._decision_log.stop(drain_seconds=5.0)
            self._decision_log = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
