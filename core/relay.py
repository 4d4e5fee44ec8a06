"""The outbox relay: publishes committed outbox rows to Redis Streams, in order, at least once.

Each event goes to the stream `events.<domain>` (e.g. `events.exams`) with its `event_id`, so a
consumer that sees an id twice (the relay crashed between XADD and moving its cursor) drops it.
The relay publishes through `core.bus.EventSink` (Redis Streams: `core.bus.RedisStreamSink`), so
another bus can take the streams' place (docs/realtime.md, *Scale-out to Kafka*).

The relay reads the outbox in (txid, event_seq) order, after its cursor (`events.relay_cursors`)
and below the transaction-id horizon: every row with txid < pg_snapshot_xmin of the statement's
snapshot belongs to a transaction that has finished, so no row can still commit behind the
cursor (sequence values and transaction ids commit out of order; the lake ingest relies on the
same horizon, migration 0001). It never writes the outbox: one cursor row moves per batch
(migration 0012 says why). Several relays can run side by side: a transaction-scoped advisory
lock lets one publish at a time, the others find it taken and wait for their next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core.bus import BusEntry, EventSink, RedisStreamSink, domain_of
from core.db import AdvisoryLock

STREAM_PREFIX = "events."
CURSOR = "redis-streams"
_RELAY_TURN = AdvisoryLock(0x6F7574626F78)  # "outbox": one relay publishes at a time
_TRY_LOCK_SQL, _LOCK_PARAMS = _RELAY_TURN.expression("pg_try_advisory_xact_lock")
_log = logging.getLogger("dreamseed.relay")

# The cursor need not wait for its WAL flush: a cursor move lost in a PostgreSQL crash only
# republishes its events, which consumers drop by event_id. A durable commit here would add a disk
# flush that the requests' own commits queue behind.
_TAKE_TURN_SQL = f"select set_config('synchronous_commit', 'off', true), {_TRY_LOCK_SQL} as my_turn"
_BATCH_SQL = (
    "select o.txid::text as txid, o.event_seq, o.event_id::text as event_id, o.event_type,"
    " o.aggregate_id, o.occurred_at, o.payload::text as payload"
    " from events.outbox o"
    # A row subquery, not a join: its values become the bounds of the index scan.
    " where (o.txid, o.event_seq) > (select c.txid, c.event_seq from events.relay_cursors c"
    " where c.relay = %(cursor)s) and o.txid < pg_snapshot_xmin(pg_current_snapshot())"
    " order by o.txid, o.event_seq limit %(limit)s"
)
_MOVE_SQL = (
    "update events.relay_cursors set txid = %(txid)s::xid8, event_seq = %(event_seq)s,"
    " moved_at = now() where relay = %(cursor)s"
)


def stream_for(event_type: str, prefix: str = STREAM_PREFIX) -> str:
    return prefix + domain_of(event_type)


async def relay_batch(
    pool: AsyncConnectionPool[Any],
    redis: Redis,
    batch_size: int = 500,
    stream_prefix: str = STREAM_PREFIX,
    sink: EventSink | None = None,
) -> int:
    """Publish the next batch of committed events to `sink` (by default Redis Streams
    `<stream_prefix><domain>`); return how many were published.

    The cursor moves in the same transaction, after the sink stored every event (one `publish`
    per domain of the batch, in outbox order), so a sink failure rolls it back and the same rows
    are published by a later batch. 0 as well when another relay holds the turn.
    """
    sink = sink or RedisStreamSink(redis, stream_prefix)
    async with pool.connection() as conn, conn.transaction():
        turn = await (await conn.execute(_TAKE_TURN_SQL, _LOCK_PARAMS)).fetchone()
        if turn is None or not turn["my_turn"]:
            return 0
        cur = await conn.execute(_BATCH_SQL, {"cursor": CURSOR, "limit": batch_size})
        rows = await cur.fetchall()
        if not rows:
            return 0
        by_domain: dict[str, list[BusEntry]] = {}
        for row in rows:
            by_domain.setdefault(domain_of(row["event_type"]), []).append(
                BusEntry(
                    event_id=row["event_id"],
                    event_type=row["event_type"],
                    aggregate_id=row["aggregate_id"],
                    occurred_at=row["occurred_at"],
                    payload=row["payload"],
                )
            )
        for domain, entries in by_domain.items():
            await sink.publish(domain, entries)
        last = rows[-1]
        await conn.execute(
            _MOVE_SQL, {"txid": last["txid"], "event_seq": last["event_seq"], "cursor": CURSOR}
        )
        return len(rows)


# Which open transaction holds the horizon back, when committed events wait behind it.
_HELD_BACK_SQL = (
    "select a.pid, a.datname, a.usename, a.application_name, a.state,"
    " extract(epoch from now() - a.xact_start)::float8 as open_seconds, left(a.query, 200) as query"
    " from pg_stat_activity a"
    " where a.backend_xid is not null and a.pid <> pg_backend_pid()"
    " and a.xact_start <= now() - make_interval(secs => %(open_for)s)"
    " and exists (select 1 from events.outbox o where (o.txid, o.event_seq) >"
    " (select c.txid, c.event_seq from events.relay_cursors c where c.relay = %(cursor)s))"
    " order by age(a.backend_xid) desc limit 1"
)


async def held_back_by(
    pool: AsyncConnectionPool[Any], open_for: float = 0.0
) -> dict[str, Any] | None:
    """The oldest transaction with a transaction id, open for `open_for` seconds or more, while
    events wait after the cursor (pg_stat_activity: pid, datname, usename, application_name,
    state, open_seconds, query), or None. The horizon is cluster-wide: one long writing transaction anywhere on the server, in
    any database, holds every later event back until it ends."""
    async with pool.connection() as conn:
        cur = await conn.execute(_HELD_BACK_SQL, {"cursor": CURSOR, "open_for": open_for})
        row = await cur.fetchone()
        return dict(row) if row is not None else None


async def run_relay(
    pool: AsyncConnectionPool[Any],
    redis: Redis,
    stop: asyncio.Event,
    idle_seconds: float = 0.2,
    batch_size: int = 500,
    stall_seconds: float = 30.0,
    stream_prefix: str = STREAM_PREFIX,
    sink: EventSink | None = None,
) -> None:
    """Relay until `stop` is set (to `sink`, by default Redis Streams); errors are logged and
    retried (the outbox keeps the events).

    A full batch is followed at once by the next; otherwise the relay waits `idle_seconds`
    before polling again, so under a steady trickle of events it runs a few batches a second
    (each carrying what accumulated) instead of one transaction per event. Delivery delay stays
    bounded by `idle_seconds` plus one batch, as when idle, unless an open transaction holds the
    horizon back: after `stall_seconds` without publishing, and every `stall_seconds` after,
    the relay logs a warning naming that transaction (`held_back_by`).
    """
    loop = asyncio.get_running_loop()
    last_progress = last_check = loop.time()
    while not stop.is_set():
        try:
            published = await relay_batch(pool, redis, batch_size, stream_prefix, sink)
        except Exception:  # a Redis or PostgreSQL outage must not kill the relay
            _log.exception("outbox relay failed; retrying")
            published = 0
        now = loop.time()
        if published:
            last_progress = now
        elif now - max(last_progress, last_check) >= stall_seconds:
            last_check = now
            with contextlib.suppress(Exception):  # a diagnosis must not stop the relay
                # Open that long: not an answer in flight, nor a standby relay waiting its turn.
                culprit = await held_back_by(pool, open_for=stall_seconds)
                if culprit is not None:
                    _log.warning(
                        "outbox relay: committed events wait behind transaction of pid %s"
                        " (%s@%s, %s, %s, open %.0f s): %s",
                        culprit["pid"],
                        culprit["usename"],
                        culprit["datname"],
                        culprit["application_name"] or "no application name",
                        culprit["state"],
                        culprit["open_seconds"],
                        culprit["query"],
                    )
        if published < batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
