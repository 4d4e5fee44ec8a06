"""PostgreSQL access: one async connection pool per process (psycopg 3)."""

from __future__ import annotations

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 20) -> AsyncConnectionPool:
    """An unopened pool returning dict rows; open it with `await pool.open(wait=True)`."""
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": False},
        name="dreamseed",
    )
