"""Outbox rows commit or vanish with their transaction; the relay publishes each to its stream."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import psycopg
import pytest
from redis.asyncio import Redis

from core import outbox
from core.db import create_pool
from core.events import ClassCreatedV1
from core.migrate import migrate
from core.relay import relay_batch, stream_for
from core.settings import Settings


def _event() -> ClassCreatedV1:
    return ClassCreatedV1(
        class_id=secrets.token_hex(8), teacher_id="t", created_at=datetime.now(UTC)
    )


def test_a_rolled_back_transaction_leaves_no_event(settings: Settings) -> None:
    kept, dropped = _event(), _event()
    with psycopg.connect(settings.database_url) as conn:
        with conn.transaction():
            outbox.append_sync(conn, kept)
        with pytest.raises(ZeroDivisionError), conn.transaction():
            outbox.append_sync(conn, dropped)
            _ = 1 / 0
        ids = {r[0] for r in conn.execute("select aggregate_id from events.outbox").fetchall()}
    assert kept.class_id in ids and dropped.class_id not in ids


def test_migrations_are_idempotent_and_refuse_edits(settings: Settings, tmp_path) -> None:
    assert migrate(settings.database_url) == []
    edited = tmp_path / "0001_foundation.sql"
    edited.write_text("select 1;")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate(settings.database_url, tmp_path)


async def test_relay_publishes_every_event_once_to_its_domain_stream(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    stream = stream_for(ClassCreatedV1.event_type)
    assert stream == "events.classes"
    before = await redis.xlen(stream)
    events = [_event() for _ in range(7)]
    with psycopg.connect(settings.database_url) as conn, conn.transaction():
        for event in events:
            outbox.append_sync(conn, event)
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        published = 0
        while (n := await relay_batch(pool, redis, batch_size=3)) > 0:
            published += n
        assert published >= 7
        assert await relay_batch(pool, redis) == 0
    finally:
        await pool.close()
    entries = await redis.xrange(stream, count=100_000)
    mine = [e for _, e in entries if e["aggregate_id"] in {x.class_id for x in events}]
    assert len(mine) == 7 and await redis.xlen(stream) >= before + 7
    await redis.aclose()
