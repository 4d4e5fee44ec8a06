"""The transactional outbox: events are written in the caller's transaction, never on their own.

The relay (`core.relay`) publishes rows to Redis Streams; the lake ingest reads the table directly
(see `events.outbox` in migration 0001 for why its watermark is a transaction-id horizon).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection, Connection

from core.events import Event, encode_payload
from core.ids import new_id

INSERT_SQL = (
    "insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)"
    " values (%s, %s, %s, %s, %s::jsonb)"
)


# Several events in one statement: a JSON array of rows, expanded server-side. `{gate}` is an
# optional relation cross-joined in front (a data-modifying CTE of the same statement), so the
# events are written exactly when that CTE wrote its row, and never otherwise.
INSERT_MANY_SQL = (
    "insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)"
    " select e.event_id, e.event_type, e.aggregate_id, e.occurred_at, e.payload"
    " from {gate}jsonb_to_recordset(%({param})s::jsonb) as e(event_id uuid, event_type text,"
    " aggregate_id text, occurred_at timestamptz, payload jsonb)"
)

_encode = msgspec.json.Encoder().encode


def insert_many_sql(param: str = "events", gate: str | None = None) -> str:
    """The statement (or CTE body) inserting the rows of `encode_many(...)` bound to `param`."""
    return INSERT_MANY_SQL.format(gate=f"{gate}, " if gate else "", param=param)


def encode_many(events: Sequence[tuple[Event, datetime | None]]) -> str:
    """`(event, occurred_at)` pairs as the JSON parameter of `insert_many_sql`."""
    now = datetime.now(UTC)
    return _encode(
        [
            {
                "event_id": new_id(),
                "event_type": event.event_type,
                "aggregate_id": event.aggregate_id,
                "occurred_at": occurred_at or now,
                "payload": msgspec.Raw(encode_payload(event)),
            }
            for event, occurred_at in events
        ]
    ).decode()


def _row(event: Event, occurred_at: datetime | None) -> tuple[object, ...]:
    return (
        new_id(),
        event.event_type,
        event.aggregate_id,
        occurred_at or datetime.now(UTC),
        encode_payload(event).decode(),
    )


async def append(
    conn: AsyncConnection[Any], event: Event, occurred_at: datetime | None = None
) -> None:
    """Add `event` to the outbox inside the transaction open on `conn`."""
    await conn.execute(INSERT_SQL, _row(event, occurred_at))


async def append_many(
    conn: AsyncConnection[Any], events: Sequence[tuple[Event, datetime | None]]
) -> None:
    """Add several events in one statement, inside the transaction open on `conn`."""
    if events:
        await conn.execute(insert_many_sql(), {"events": encode_many(events)})


def append_sync(conn: Connection[Any], event: Event, occurred_at: datetime | None = None) -> None:
    """Synchronous twin of `append`, for tools and tests."""
    conn.execute(INSERT_SQL, _row(event, occurred_at))
