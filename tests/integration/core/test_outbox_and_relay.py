"""Outbox rows commit or vanish with their transaction; the relay publishes each to its stream."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from core import outbox
from core.db import create_pool
from core.events import ClassCreatedV1
from core.migrate import MIGRATIONS_DIR, migrate
from core.relay import held_back_by, relay_batch, run_relay, stream_for
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
        await _publish(pool, redis, events, batch_size=3)
        await _drain(pool, redis)
        assert await relay_batch(pool, redis) == 0
    finally:
        await pool.close()
    entries = await redis.xrange(stream, count=100_000)
    mine = [e for _, e in entries if e["aggregate_id"] in {x.class_id for x in events}]
    assert len(mine) == 7 and await redis.xlen(stream) >= before + 7
    await redis.aclose()


async def _drain(pool, redis: Redis) -> int:
    published = 0
    while (n := await relay_batch(pool, redis, batch_size=50)) > 0:
        published += n
    return published


async def _publish(pool, redis: Redis, events: list[ClassCreatedV1], batch_size: int = 50) -> None:
    """Relay until every one of `events` went out. The horizon is cluster-wide: a transaction
    of another database still open holds it back for a moment, so this waits (bounded)."""
    async with asyncio.timeout(30):
        while len(await _published_ids(redis, events)) < len(events):
            if await relay_batch(pool, redis, batch_size=batch_size) == 0:
                await asyncio.sleep(0.05)


async def _published_ids(redis: Redis, events: list[ClassCreatedV1]) -> list[str]:
    wanted = {e.class_id for e in events}
    recent = f"{int(time.time() * 1000) - 120_000}-0"  # stream ids start with the ms of the XADD
    entries = await redis.xrange(stream_for(ClassCreatedV1.event_type), min=recent)
    return [e["aggregate_id"] for _, e in entries if e["aggregate_id"] in wanted]


async def test_an_event_committed_late_is_published_after_the_open_transaction_ends(
    settings: Settings,
) -> None:
    """Sequence values and transaction ids commit out of order: a row of a transaction still
    open must not be skipped by a cursor that moved past rows committed after it began."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    early, late = _event(), _event()
    try:
        await _drain(pool, redis)
        slow = psycopg.connect(settings.database_url)
        outbox.append_sync(slow, early)  # its transaction holds an older transaction id
        with psycopg.connect(settings.database_url) as conn, conn.transaction():
            outbox.append_sync(conn, late)  # committed first
        assert await _drain(pool, redis) == 0  # `late` waits behind the open transaction
        slow.commit()
        slow.close()
        await _publish(pool, redis, [early, late])
        assert await _published_ids(redis, [early, late]) == [early.class_id, late.class_id]
    finally:
        await pool.close()
        await redis.aclose()


async def test_relays_side_by_side_publish_each_event_once(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    pools = [create_pool(settings.database_url, min_size=1, max_size=2) for _ in range(3)]
    for pool in pools:
        await pool.open(wait=True)
    events = [_event() for _ in range(60)]
    try:
        await _drain(pools[0], redis)
        with psycopg.connect(settings.database_url) as conn:
            for event in events:  # many small transactions, committed one after another
                with conn.transaction():
                    outbox.append_sync(conn, event)

        done = asyncio.Event()

        async def relay(pool) -> int:
            published = 0
            async with asyncio.timeout(30):
                while not done.is_set():
                    published += await relay_batch(pool, redis, batch_size=7)
                    if len(await _published_ids(redis, events)) >= len(events):
                        done.set()
                    await asyncio.sleep(0)
            return published

        counts = await asyncio.gather(*(relay(pool) for pool in pools))
        await _drain(pools[0], redis)  # nothing more may go out
        published = await _published_ids(redis, events)
        assert sorted(published) == sorted(e.class_id for e in events)  # each exactly once
        assert published == [e.class_id for e in events]  # in commit order
        assert sum(counts) >= len(events)  # (plus any earlier test's events the horizon held)
    finally:
        for pool in pools:
            await pool.close()
        await redis.aclose()


async def test_a_redis_failure_leaves_the_cursor_where_it_was(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    dead = Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    events = [_event() for _ in range(3)]
    try:
        await _drain(pool, redis)
        with psycopg.connect(settings.database_url) as conn, conn.transaction():
            for event in events:
                outbox.append_sync(conn, event)
        with pytest.raises(RedisConnectionError):
            await relay_batch(pool, dead)
        assert await _published_ids(redis, events) == []
        await _publish(pool, redis, events)
        assert await _published_ids(redis, events) == [e.class_id for e in events]
    finally:
        await pool.close()
        await dead.aclose()
        await redis.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_cursor_starts_before_the_first_row_the_old_relay_left_unpublished(
    settings: Settings, tmp_path: Path
) -> None:
    """Migration 0012 on a database whose outbox the old relay had partly marked published."""
    name = f"dreamseed_relay_{secrets.token_hex(4)}"
    admin = urlparse(settings.database_url)._replace(path="/postgres").geturl()
    url = urlparse(settings.database_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        before = tmp_path / "before"
        before.mkdir()
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if path.name < "0012":
                shutil.copy(path, before / path.name)
        migrate(url, before)
        with psycopg.connect(url) as conn:
            for k in range(6):  # rows 3 and 5 (1-based) were not published yet
                with conn.transaction():
                    outbox.append_sync(conn, _event())
                    if k not in (2, 4):
                        conn.execute(
                            "update events.outbox set published_at = now()"
                            " where event_seq = (select max(event_seq) from events.outbox)"
                        )
        migrate(url)
        with psycopg.connect(url) as conn:
            rows = conn.execute("select txid, event_seq from events.outbox order by 1, 2")
            positions = rows.fetchall()
            cursor = conn.execute("select txid, event_seq from events.relay_cursors").fetchall()
        assert cursor == [positions[1]]  # just before the first row left unpublished
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


async def test_the_relay_names_the_transaction_that_holds_its_events_back(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    waiting = _event()
    try:
        await _drain(pool, redis)
        assert await held_back_by(pool) is None  # nothing waits
        with psycopg.connect(settings.database_url, application_name="long-report") as slow:
            slow.execute("select pg_current_xact_id()")  # a writing transaction, left open
            with psycopg.connect(settings.database_url) as conn, conn.transaction():
                outbox.append_sync(conn, waiting)
            culprit = await held_back_by(pool)
            assert culprit is not None
            assert culprit["pid"] == slow.info.backend_pid
            assert culprit["application_name"] == "long-report"
            assert await held_back_by(pool, open_for=3600) is None  # not open that long
            stop = asyncio.Event()
            with caplog.at_level(logging.WARNING, logger="dreamseed.relay"):
                task = asyncio.create_task(
                    run_relay(pool, redis, stop, idle_seconds=0.05, stall_seconds=0.2)
                )
                for _ in range(200):  # the warning is due after 0.2 s; wait 10 s at most
                    if "long-report" in caplog.text:
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await task
            assert f"pid {slow.info.backend_pid}" in caplog.text
            assert await _published_ids(redis, [waiting]) == []  # still held back
            slow.rollback()
        await _publish(pool, redis, [waiting])
    finally:
        await pool.close()
        await redis.aclose()
