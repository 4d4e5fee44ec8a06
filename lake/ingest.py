"""Copy `events.outbox` into the bronze Iceberg table `outbox_events`, exactly once.

The protocol (transaction-id horizon, watermark in the snapshot summary, advisory lock, commit
retries off) is the lake's one shipper, `lake.shipper`; this module says what to read (the outbox
rows of a horizon range, streamed with COPY) and where the watermark lives.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table

from core.db import AdvisoryLock
from core.settings import Settings
from lake.catalog import load_catalog
from lake.shipper import (
    Shipment,
    Watermark,
    read_watermark,
    ship_below_horizon,
)
from lake.tables import OUTBOX_EVENTS_DEF, ensure_outbox_events, identifier

HORIZON_PROPERTY = "dreamseed.outbox.xmin_horizon"
PREVIOUS_HORIZON_PROPERTY = "dreamseed.outbox.previous_horizon"
DEFAULT_BATCH_SIZE = 250_000

SELECT_SQL = """
select event_seq,
       event_id::text,
       event_type,
       aggregate_id,
       (extract(epoch from occurred_at) * 1000000)::bigint,
       payload::text
  from events.outbox
 where txid >= %(previous)s::xid8 and txid < %(horizon)s::xid8
 order by event_seq
"""
# The same rows as SELECT_SQL, streamed with COPY as CSV and parsed by Arrow's CSV reader: about
# 3x faster than fetching Python tuples (the bounds are integers formatted by us, never input).
COPY_SQL = """
copy (select event_seq, event_id::text, event_type, aggregate_id,
             (extract(epoch from occurred_at) * 1000000)::bigint, payload::text
        from events.outbox
       where txid >= '{previous}'::xid8 and txid < '{horizon}'::xid8
       order by event_seq) to stdout (format csv)
"""
CSV_COLUMNS = ("event_seq", "event_id", "event_type", "aggregate_id", "occurred_us", "payload")
PENDING_SQL = """
select count(*)
  from events.outbox
 where txid >= %(previous)s::xid8 and txid < pg_snapshot_xmin(pg_current_snapshot())
"""
FINAL_COUNT_SQL = "select count(*) from events.outbox where txid < %(horizon)s::xid8"


def read_horizon(table: Table) -> int:
    """The horizon stored by the last ingest (0 before the first one)."""
    return read_watermark(table, HORIZON_PROPERTY)


def _lock_key(settings: Settings) -> str:
    return f"dreamseed.lake.ingest:{settings.lake_namespace}"


def _record_batches(
    cursor: psycopg.Cursor[Any], schema: pa.Schema, batch_size: int, ingested_at: datetime
) -> Iterator[pa.Table]:
    """Turn a server-side cursor into Arrow tables of at most `batch_size` rows."""
    ingested_us = int(ingested_at.timestamp() * 1_000_000)
    ts = pa.timestamp("us", tz="UTC")
    while True:
        rows = cursor.fetchmany(batch_size)
        if not rows:
            return
        seqs, ids, types, aggregates, occurred, payloads = zip(*rows, strict=True)
        n = len(rows)
        yield pa.Table.from_arrays(
            [
                pa.array(seqs, pa.int64()),
                pa.array(ids, pa.string()),
                pa.array(types, pa.string()),
                pa.array(aggregates, pa.string()),
                pa.array(occurred, pa.int64()).cast(ts),
                pa.array(payloads, pa.string()),
                pa.repeat(pa.scalar(ingested_us, pa.int64()), n).cast(ts),
            ],
            schema=schema,
        )


class _CopyReader(io.RawIOBase):
    """A read-only file over a psycopg COPY TO STDOUT stream (one CopyData message per row)."""

    def __init__(self, copy: psycopg.Copy) -> None:
        self._copy = copy
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                data = self._copy.read()
                if not data:
                    break
                self._pending = memoryview(data)
            n = min(len(view) - filled, len(self._pending))
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled


def _csv_batches(
    copy: psycopg.Copy, schema: pa.Schema, batch_size: int, ingested_at: datetime
) -> Iterator[pa.Table]:
    """Parse the COPY stream with Arrow's CSV reader; yield tables of at most `batch_size` rows."""
    ingested_us = int(ingested_at.timestamp() * 1_000_000)
    ts = pa.timestamp("us", tz="UTC")
    stream = io.BufferedReader(_CopyReader(copy), buffer_size=1 << 20)
    if not stream.peek(1):
        return  # no rows (Arrow refuses an empty CSV)
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=list(CSV_COLUMNS), block_size=8 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={
                "event_seq": pa.int64(),
                "event_id": pa.string(),
                "event_type": pa.string(),
                "aggregate_id": pa.string(),
                "occurred_us": pa.int64(),
                "payload": pa.string(),
            },
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )

    def convert(part: pa.Table) -> pa.Table:
        return pa.Table.from_arrays(
            [
                part.column(0),
                part.column(1),
                part.column(2),
                part.column(3),
                part.column(4).cast(ts),
                part.column(5),
                pa.repeat(pa.scalar(ingested_us, pa.int64()), part.num_rows).cast(ts),
            ],
            schema=schema,
        )

    # Arrow parses in blocks of a few MB; accumulate up to `batch_size` rows so that each write
    # makes one file per day of a large batch, not one per block (small files cost an S3 PUT each).
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        if count >= batch_size:
            table = pa.Table.from_batches(held)
            full = (count // batch_size) * batch_size
            for start in range(0, full, batch_size):
                yield convert(table.slice(start, batch_size))
            rest = table.slice(full)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield convert(pa.Table.from_batches(held, schema=held[0].schema))


def ingest_outbox(
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    before_commit: Callable[[], None] | None = None,
) -> Shipment:
    """Append the outbox rows that became final since the last ingest to `outbox_events`.

    Rows are streamed from PostgreSQL `batch_size` at a time and written as Parquet files as they
    arrive; the files are committed as one Iceberg snapshot carrying the new horizon.
    `before_commit` runs after every file (data, manifests) is written and before the catalog
    commit -- tests raise there to simulate a crash.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    arrow_schema = OUTBOX_EVENTS_DEF.arrow_schema()
    ingested_at = datetime.now(UTC)

    def read_rows(conn: psycopg.Connection[Any], previous: int, horizon: int) -> Iterator[pa.Table]:
        copy_sql = COPY_SQL.format(previous=int(previous), horizon=int(horizon))
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            yield from _csv_batches(copy, arrow_schema, batch_size, ingested_at)

    return ship_below_horizon(
        settings.database_url,
        lock=AdvisoryLock(_lock_key(settings)),
        open_table=lambda: ensure_outbox_events(load_catalog(settings), settings),
        watermark=Watermark(HORIZON_PROPERTY, PREVIOUS_HORIZON_PROPERTY),
        read_rows=read_rows,
        before_commit=before_commit,
    )


def current_horizon(settings: Settings) -> int:
    """The horizon stored in the lake (0 before the first ingest). Never writes."""
    catalog = load_catalog(settings, create_namespace=False)
    try:
        table = catalog.load_table(identifier(settings, OUTBOX_EVENTS_DEF.name))
    except (NoSuchTableError, NoSuchNamespaceError):
        return 0
    return read_horizon(table)


def pending_events(settings: Settings, horizon: int | None = None) -> int:
    """How many outbox rows are final but not yet in the lake (what the next ingest would copy)."""
    previous = current_horizon(settings) if horizon is None else horizon
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(PENDING_SQL, {"previous": str(previous)}).fetchone()
    return int(row[0]) if row else 0


def final_outbox_count(settings: Settings, horizon: int) -> int:
    """Outbox rows below `horizon` -- what the lake must hold after ingesting up to it."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(FINAL_COUNT_SQL, {"horizon": str(horizon)}).fetchone()
    return int(row[0]) if row else 0
