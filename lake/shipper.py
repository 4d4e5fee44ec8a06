"""The lake's one exactly-once shipper: rows that became final in PostgreSQL, appended to an
Iceberg table in one snapshot that also carries the watermark.

The watermark is a transaction-id horizon, not a sequence: sequence values are taken when a row is
inserted but become visible when its transaction commits, so a smaller one can appear after a
larger one has been read. Instead, in one REPEATABLE READ transaction we read
H = pg_snapshot_xmin(pg_current_snapshot()) -- every transaction with an id below H has finished,
so the set of rows with txid < H can never change again -- and copy the rows with
previous <= txid < H. H is stored in the summary of the Iceberg snapshot that appends those rows,
so data and watermark move in one atomic catalog commit:

* a crash after the Parquet files are written but before the commit leaves the old snapshot (and
  so the old watermark) current: the rerun copies the same rows again and commits once (the
  orphaned files are never referenced; orphan-file maintenance removes them);
* two runs cannot interleave: they are serialised by a PostgreSQL advisory lock per table and
  namespace, and the tables refuse to rebase a losing append (`commit.retry.num-retries = 0`), so
  even without the lock the loser fails instead of duplicating.

Empty runs commit nothing: the watermark only moves together with data (the next run scans from
the old one with the table's txid index; nothing lies between it and the current horizon).

`StagedSnapshot` is the commit half on its own: the silver derivation (`lake.silver`) stages its
tables' appends with it, its watermark being the bronze horizon it consumed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from core.db import AdvisoryLock
from lake.writer import append_arrow

SNAPSHOT_HORIZON_SQL = "select pg_snapshot_xmin(pg_current_snapshot())::text"

#: Reads the rows with previous <= txid < horizon on the shipper's REPEATABLE READ connection and
#: yields them as Arrow tables of the target's schema.
RowReader = Callable[[psycopg.Connection[Any], int, int], Iterable[pa.Table]]


def snapshot_int_property(snapshot: Snapshot, name: str) -> int | None:
    """An integer stored in a snapshot's summary, or None."""
    summary = snapshot.summary
    if summary is None:
        return None
    value = summary.additional_properties.get(name)
    return int(value) if value is not None else None


def read_watermark(table: Table, name: str) -> int:
    """Walk back from the current snapshot to the first one whose summary carries `name`
    (maintenance snapshots, e.g. compaction, do not); 0 when none has."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        value = snapshot_int_property(snapshot, name)
        if value is not None:
            return value
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return 0


class StagedSnapshot:
    """One Iceberg append being staged: files are written as chunks arrive, and the one catalog
    commit carries `properties` (the watermark), so data and watermark land together or not at
    all. `properties` may still change until `commit` (it is read then)."""

    def __init__(self, table: Table, properties: dict[str, str]) -> None:
        self.table = table
        self.properties = properties
        self.rows = 0
        self.files = 0
        self._tx = table.transaction()
        self._append = self._tx.update_snapshot(snapshot_properties=properties).fast_append()
        self._counter = itertools.count(0)

    def arrow_schema(self) -> pa.Schema:
        return self._tx.table_metadata.schema().as_arrow()

    def add(self, chunk: pa.Table) -> None:
        """Write `chunk` as Parquet files (one per partition day) and stage them."""
        meta = self._tx.table_metadata
        self.files += append_arrow(self._append, meta, self.table.io, chunk, self._counter)
        self.rows += chunk.num_rows

    def commit(self, before_commit: Callable[[], None] | None = None) -> Table:
        """Write the manifests, then make the snapshot current in one catalog commit.
        `before_commit` runs in between (crash tests raise there)."""
        self._append.commit()
        if before_commit is not None:
            before_commit()
        committed: Table = self._tx.commit_transaction()
        return committed


@dataclass(frozen=True, slots=True)
class Shipment:
    """What one shipping run did. `horizon` is the watermark in force afterwards."""

    rows: int
    previous_horizon: int
    horizon: int
    committed: bool
    snapshot_id: int | None
    data_files: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Watermark:
    """The snapshot-summary properties a shipped table keeps its horizon (and the one before) in."""

    horizon: str
    previous: str


def _nothing(previous: int, started: float) -> Shipment:
    return Shipment(
        previous_horizon=previous,
        horizon=previous,
        committed=False,
        rows=0,
        snapshot_id=None,
        data_files=0,
        seconds=time.perf_counter() - started,
    )


def ship_below_horizon(
    database_url: str,
    *,
    lock: AdvisoryLock,
    open_table: Callable[[], Table],
    watermark: Watermark,
    read_rows: RowReader,
    before_commit: Callable[[], None] | None = None,
) -> Shipment:
    """Append the rows that became final since the last run (see the module's protocol).

    `open_table` runs under the lock (it may create the table); `read_rows` streams the rows of
    one horizon range; `before_commit` runs after every file is written, before the catalog
    commit.
    """
    started = time.perf_counter()
    with lock.on_own_connection(database_url):
        table = open_table()
        previous = read_watermark(table, watermark.horizon)
        with psycopg.connect(database_url) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                row = conn.execute(SNAPSHOT_HORIZON_SQL).fetchone()
                assert row is not None
                horizon = int(row[0])
                if horizon <= previous:
                    return _nothing(previous, started)
                properties = {watermark.horizon: str(horizon), watermark.previous: str(previous)}
                staged = StagedSnapshot(table, properties)
                for chunk in read_rows(conn, previous, horizon):
                    staged.add(chunk)
        if staged.rows == 0:
            return _nothing(previous, started)
        snapshot = staged.commit(before_commit).current_snapshot()
    return Shipment(
        rows=staged.rows,
        previous_horizon=previous,
        horizon=horizon,
        committed=True,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        data_files=staged.files,
        seconds=time.perf_counter() - started,
    )
