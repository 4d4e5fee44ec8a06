"""The analytics answers' Redis cache, invalidated by event.

A cached answer lives under `analytics:<scope>:<id>:<version>`, where the version is the row of
`live.cache_versions` that the analytics consumer bumps in the same transaction as the figures it
changes. A reader reads the version first, then the cache (or the figures, which are at least as
new as that version): an answer is never older than the last committed event, even when the
consumer died before deleting the superseded keys. Those keys can no longer be read; the consumer
deletes them after its commit, and `GARBAGE_SECONDS` bounds the memory of any it missed (not
their freshness).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import msgspec
from psycopg import AsyncConnection
from redis.asyncio import Redis

PREFIX: Final = "analytics:"
GARBAGE_SECONDS: Final = 86_400

T = TypeVar("T")


def cache_key(scope: str, key: str, version: int) -> str:
    return f"{PREFIX}{scope}:{key}:{version}"


async def version_of(conn: AsyncConnection[Any], scope: str, key: str) -> int:
    cur = await conn.execute(
        "select version from live.cache_versions where scope = %s and id = %s", (scope, key)
    )
    row = await cur.fetchone()
    return int(row["version"]) if row else 0


async def cached(
    conn: AsyncConnection[Any],
    redis: Redis,
    scope: str,
    key: str,
    kind: type[T],
    compute: Callable[[], Awaitable[T]],
) -> T:
    """The answer for (scope, key) at its current version: from Redis, or computed and kept."""
    name = cache_key(scope, key, await version_of(conn, scope, key))
    raw = await redis.get(name)
    if raw is not None:
        return msgspec.json.decode(raw, type=kind)
    value = await compute()
    await redis.set(name, msgspec.json.encode(value), ex=GARBAGE_SECONDS)
    return value
