"""Presence: who has a notification stream (SSE) open, per class, in Redis with expiry.

An open stream marks its user online in each of her classes (the classes she belongs to or
teaches): `presence:class:<class_id>` is a sorted set of user ids scored by when each was last
seen, refreshed at every heartbeat of the stream, and the member is removed when the stream ends.
A stream that died without ending (a crashed API process) drops out once its last sighting is
older than the TTL (a little over two heartbeats); the set itself expires when nobody refreshes it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from redis.asyncio import Redis

from apis.analytics.schemas import ClassPresence, OnlineUser

PREFIX: Final = "presence:class:"


def presence_key(class_id: str) -> str:
    return PREFIX + class_id


def ttl_seconds(heartbeat_seconds: float) -> float:
    return 2.0 * heartbeat_seconds + 5.0


async def classes_of(conn: AsyncConnection[Any], user_id: str) -> list[str]:
    cur = await conn.execute(
        "select class_id::text from classes.memberships where student_id = %s"
        " union select class_id::text from classes.classes where teacher_id = %s",
        (user_id, user_id),
    )
    return sorted(r["class_id"] for r in await cur.fetchall())


async def seen(redis: Redis, user_id: str, class_ids: list[str], ttl: float) -> None:
    """Mark her online now in each class (at connect and every heartbeat)."""
    if not class_ids:
        return
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for class_id in class_ids:
            pipe.zadd(presence_key(class_id), {user_id: now})
            pipe.expire(presence_key(class_id), int(ttl) + 1)
        await pipe.execute()


async def left(redis: Redis, user_id: str, class_ids: list[str]) -> None:
    """Her stream ended."""
    if not class_ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for class_id in class_ids:
            pipe.zrem(presence_key(class_id), user_id)
        await pipe.execute()


async def online(redis: Redis, class_id: str, ttl: float) -> ClassPresence:
    """Who of the class was seen within the TTL (older sightings are removed on the way)."""
    key = presence_key(class_id)
    cutoff = time.time() - ttl
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
        pipe.zrange(key, 0, -1, withscores=True)
        _, members = await pipe.execute()
    users = sorted(
        (OnlineUser(_text(m), datetime.fromtimestamp(float(score), UTC)) for m, score in members),
        key=lambda u: u.user_id,
    )
    return ClassPresence(class_id, len(users), ttl, users)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
