"""The outbox relay: publishes committed outbox rows to Redis Streams, in order, at least once.

Each event goes to the stream `events.<domain>` (e.g. `events.exams`) with its `event_id`, so a
consumer that sees an id twice (the relay crashed between XADD and marking the row) drops it.
Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

STREAM_PREFIX = "events."
STREAM_MAXLEN = 1_000_000
_log = logging.getLogger("dreamseed.relay")


def stream_for(event_type: str) -> str:
    return STREAM_PREFIX + event_type.split(".", 1)[0]


async def relay_batch(pool: AsyncConnectionPool[Any], redis: Redis, batch_size: int = 500) -> int:
    """Publish one batch of unpublished events; return how many were published.

    One statement claims and marks the rows (`update … returning`, rows locked with `skip
    locked`); the mark commits only after Redis acknowledged every XADD, so a Redis failure rolls
    it back and the rows are published by a later batch.
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "update events.outbox o set published_at = now() from ("
            " select event_seq from events.outbox where published_at is null"
            " order by event_seq limit %s for update skip locked) claimed"
            " where o.event_seq = claimed.event_seq"
            " returning o.event_seq, o.event_id::text as event_id, o.event_type, o.aggregate_id,"
            " o.occurred_at, o.payload::text as payload",
            (batch_size,),
        )
        rows = sorted(await cur.fetchall(), key=lambda row: row["event_seq"])
        if not rows:
            return 0
        pipe = redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                stream_for(row["event_type"]),
                {
                    "event_id": row["event_id"],
                    "event_type": row["event_type"],
                    "aggregate_id": row["aggregate_id"],
                    "occurred_at": row["occurred_at"].isoformat(),
                    "payload": row["payload"],
                },
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        await pipe.execute()
        return len(rows)


async def run_relay(
    pool: AsyncConnectionPool[Any],
    redis: Redis,
    stop: asyncio.Event,
    idle_seconds: float = 0.2,
    batch_size: int = 500,
) -> None:
    """Relay until `stop` is set; errors are logged and retried (the outbox keeps the events).

    A full batch is followed at once by the next; otherwise the relay waits `idle_seconds`
    before polling again, so under a steady trickle of events it runs a few batches a second
    (each carrying what accumulated) instead of one transaction per event. Delivery delay stays
    bounded by `idle_seconds` plus one batch, as when idle.
    """
    while not stop.is_set():
        try:
            published = await relay_batch(pool, redis, batch_size)
        except Exception:  # a Redis or PostgreSQL outage must not kill the relay
            _log.exception("outbox relay failed; retrying")
            published = 0
        if published < batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
