"""PostgreSQL access: one async connection pool per process (psycopg 3)."""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

#: The API's pool: its connections return rows as dicts (column name → value).
DictConnection = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[DictConnection]

# How long a request waits for a pooled connection before it is refused with a 503: long
# enough to ride out a busy moment, short enough that a lost database answers promptly.
POOL_TIMEOUT_SECONDS = 5.0


async def discard_dead_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check before it hands out a connection: raise if it is dead, so the pool drops
    it and gives out (or opens) another.

    An idle connection's socket has nothing to read unless the server spoke first: after a
    restart or `pg_terminate_backend` that is its termination notice, or end-of-file. Only then
    is the connection probed with a round trip (psycopg_pool's own `check_connection`), so a
    healthy connection costs no extra round trip per checkout.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


def is_connection_loss(exc: BaseException) -> bool:
    """PostgreSQL is unreachable, restarting or out of connections right now: an error worth
    retrying later (a 503), unlike a fault in the request or the code (class 54, program limits,
    is the request's fault).
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False
    sqlstate = exc.sqlstate or ""
    return not sqlstate.startswith("54")


def create_pool(
    database_url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    timeout: float = POOL_TIMEOUT_SECONDS,
) -> Pool:
    """An unopened pool returning dict rows; open it with `await pool.open(wait=True)`.

    Dead connections are dropped at checkout (`discard_dead_connection`) and replaced in the
    background, so a database restart costs the requests in flight, not every later one.
    """
    return AsyncConnectionPool(
        database_url,
        connection_class=DictConnection,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": False},
        check=discard_dead_connection,
        timeout=timeout,
        name="dreamseed",
    )


@asynccontextmanager
async def connect_once(database_url: str) -> AsyncIterator[AsyncConnection[Any]]:
    """One connection for one unit of work (commands, scripts): committed on success, rolled back
    on error, closed either way -- the same contract as `pool.connection()`."""
    async with await AsyncConnection.connect(database_url, connect_timeout=5) as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class AdvisoryLock:
    """A PostgreSQL advisory lock named by text (`hashtextextended(name, seed)`) or by a number.

    The one place that spells the lock SQL. Transaction locks (`hold`, `try_hold`) end with the
    caller's transaction; session locks (`session`, `on_own_connection`) end when the block does,
    or when the connection closes, also after a crash. `seed` keeps the keys of separate lock
    families apart (and equal to what older processes take, so they still exclude each other).
    """

    name: str | int
    seed: int = 0

    def _call(self, function: str) -> tuple[str, tuple[object, ...]]:
        if isinstance(self.name, int):
            return f"{function}(%s)", (self.name,)
        return f"{function}(hashtextextended(%s, {int(self.seed)}))", (self.name,)

    def expression(self, function: str) -> tuple[str, tuple[object, ...]]:
        """`function(key)` as SQL with its parameters, for callers that fold the lock into a
        statement of their own (one round trip)."""
        return self._call(function)

    async def hold(self, conn: AsyncConnection[Any]) -> None:
        """Wait for the lock until the end of `conn`'s current transaction."""
        sql, params = self._call("pg_advisory_xact_lock")
        await conn.execute(f"select {sql}", params)

    def hold_sync(self, conn: psycopg.Connection[Any]) -> None:
        """`hold` for synchronous callers (Dagster ops)."""
        sql, params = self._call("pg_advisory_xact_lock")
        conn.execute(f"select {sql}", params)

    @contextmanager
    def session(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Hold the lock on `conn` (autocommit) for the block; released at its end."""
        sql, params = self._call("pg_advisory_lock")
        conn.execute(f"select {sql}", params)
        try:
            yield
        finally:
            unlock, params = self._call("pg_advisory_unlock")
            if not conn.closed:
                conn.execute(f"select {unlock}", params)

    @contextmanager
    def on_own_connection(self, database_url: str) -> Iterator[None]:
        """Hold the lock for the block on a connection of its own, so the work inside may open
        and commit its own transactions; a crash closes the connection and so frees the lock."""
        with psycopg.connect(database_url, autocommit=True) as conn, self.session(conn):
            yield


def item_parameters_lock(item_id: str) -> AdvisoryLock:
    """Serialises writes of one item's IRT parameters: the content service and the calibration
    job's bank both take it (seed 1 keeps these keys apart from the name-0 family)."""
    return AdvisoryLock(f"params:{item_id}", seed=1)
