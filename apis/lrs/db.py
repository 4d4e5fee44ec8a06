"""Positional rows for the LRS's queries (the pool's default row factory gives dicts)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import tuple_row


def tuples(conn: AsyncConnection[Any]) -> AsyncCursor[tuple[Any, ...]]:
    return conn.cursor(row_factory=tuple_row)
