"""The transactional outbox: events are written in the caller's transaction, never on their own.

The relay (`core.relay`) publishes rows to Redis Streams; the lake ingest reads the table directly
(see `events.outbox` in migration 0001 for why its watermark is a transaction-id horizon).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, Connection

from core.events import Event, encode_payload
from core.ids import new_id

INSERT_SQL = (
    "insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)"
    " values (%s, %s, %s, %s, %s::jsonb)"
)


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


def append_sync(conn: Connection[Any], event: Event, occurred_at: datetime | None = None) -> None:
    """Synchronous twin of `append`, for tools and tests."""
    conn.execute(INSERT_SQL, _row(event, occurred_at))
