"""Consumers on real Redis Streams and PostgreSQL: every event's effect happens once although
entries are delivered more than once (republished by the relay, left pending by a member that
died), and a poison event is parked in the dead-letter stream without holding the rest back."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import AsyncConnection
from redis.asyncio import Redis

from core.consumers import (
    Consumer,
    ConsumerConfig,
    ConsumerSpec,
    StreamEvent,
    dead_letter_stream,
    lag,
    per_event,
)
from core.db import create_pool
from core.settings import Settings

pytestmark = pytest.mark.integration


async def record(conn: AsyncConnection[Any], event: StreamEvent) -> None:
    if event.payload.get("poison"):
        raise ValueError("bad payload")
    await conn.execute(
        "insert into consumer_test.effects (event_id) values (%s)", (event.event_id,)
    )


def entry(event_id: str, **payload: Any) -> dict[str, str]:
    return {
        "event_id": event_id,
        "event_type": "tests.thing.happened.v1",
        "aggregate_id": event_id,
        "occurred_at": "2026-12-07T00:00:00+00:00",
        "payload": msgspec.json.encode(payload).decode(),
    }


async def test_effects_once_despite_redelivery_and_poison_parked(settings: Settings) -> None:
    prefix = f"test:{secrets.token_hex(4)}:events."
    stream = prefix + "tests"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("create schema if not exists consumer_test")
        conn.execute("create table consumer_test.effects (event_id uuid not null)")
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    config = ConsumerConfig(
        stream_prefix=prefix, claim_idle_ms=200, max_deliveries=3, batch_size=20, block_ms=100
    )

    async def handle(conn: AsyncConnection[Any], event: StreamEvent) -> None:
        await record(conn, event)

    spec = ConsumerSpec("tester", ("tests",), per_event(handle))
    member = Consumer(spec, pool, redis, "survivor", config)
    try:
        await member.ensure_groups()
        ids = [str(uuid.uuid4()) for _ in range(50)]
        poison = str(uuid.uuid4())
        for n, event_id in enumerate(ids):
            await redis.xadd(stream, entry(event_id, n=n))
            if n == 25:
                await redis.xadd(stream, entry(poison, poison=True))
        for event_id in ids[:5]:  # the relay republished these (a crash before its cursor moved)
            await redis.xadd(stream, entry(event_id))
        # A member reads a batch and dies before acknowledging it.
        taken = await redis.xreadgroup("tester", "dead", {stream: ">"}, count=10)
        assert len(taken[0][1]) == 10

        async def drained() -> None:
            while True:
                await member.step()
                figures = await lag(redis, prefix, "tester", ("tests",))
                if figures[stream] == {"lag": 0, "pending": 0}:
                    return

        await asyncio.wait_for(drained(), 60)
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute("select event_id::text from consumer_test.effects").fetchall()
        assert sorted(r[0] for r in rows) == sorted(ids)  # each once, the poison never
        parked = await redis.xrange(dead_letter_stream(prefix, "tester"))
        assert [(f["event_id"], f["error"]) for _, f in parked] == [
            (poison, "ValueError: bad payload")
        ]
        assert member.parked == 1 and member.handled == 50
        assert await redis.hlen("consumer:failures:tester") == 0
    finally:
        await redis.delete(stream, dead_letter_stream(prefix, "tester"))
        await redis.aclose()
        await pool.close()
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("drop schema consumer_test cascade")
