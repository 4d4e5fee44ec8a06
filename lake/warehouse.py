"""The lake's silver tables and daily dimension snapshots copied into PostgreSQL for dbt.

One lineage (ADR 0008, issue 18): the dbt marts read `lake_silver.<table>`, copies of the Iceberg
tables, not the OLTP schemas. The tables are made by the migrations (0020, 0025: dbt needs them
before the first load), with the lake's columns: ids as text, people only as pseudonymous
`*_key`s, no free text.

Incremental by Iceberg snapshot. `lake_silver.copy_state` remembers, per table, the last snapshot
copied. A run walks the table's snapshot log from the current snapshot back to that one and reads
only the data files the `append` snapshots in between added (a `replace` snapshot -- compaction --
adds files whose rows are already here and is walked past). The rows go through COPY into a
temporary table and on into the copy with `insert ... on conflict do nothing`, and the
bookkeeping row moves in the same transaction: a crash leaves both as they were, and reruns or
overlapping runs (serialised per table by a transaction-level advisory lock) add nothing twice.

A full reload (delete all rows, read the whole current snapshot, same transaction) happens when
there is no bookkeeping row yet, when the remembered snapshot is no longer an ancestor of the
current one (expired, or the table was rebuilt), or when a snapshot in between rewrote or deleted
rows (`overwrite` / `delete`: a silver rebuild, or a privacy erasure replacing a person's key) --
so what the lake forgot, the copy forgets too.

The copy takes the columns both sides have: a column a new contract version adds to the lake is
copied once a migration adds it here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
import pyarrow as pa
from psycopg import sql
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Operation, Snapshot

from core.settings import Settings
from lake.catalog import load_catalog
from lake.dims import DIM_TABLES
from lake.silver import SILVER_TABLES
from lake.tables import identifier

SCHEMA = "lake_silver"
STATE_TABLE = "copy_state"

# Every table the marts can read from the lake: silver tables, then dimension snapshots.
COPY_TABLES: tuple[str, ...] = (*SILVER_TABLES, *DIM_TABLES)

# The copy's conflict key (its primary key in the migrations); silver rows are unique by event.
DIM_KEYS: dict[str, tuple[str, ...]] = {
    "dim_accounts_snapshots": ("snapshot_date", "user_key"),
    "dim_classes_snapshots": ("snapshot_date", "class_id"),
    "dim_memberships_snapshots": ("snapshot_date", "class_id", "student_key"),
    "dim_items_snapshots": ("snapshot_date", "item_id"),
    "dim_exams_snapshots": ("snapshot_date", "exam_id"),
}

Mode = Literal["unchanged", "incremental", "full", "missing"]


def conflict_key(table: str) -> tuple[str, ...]:
    if table in DIM_KEYS:
        return DIM_KEYS[table]
    if table in SILVER_TABLES:
        return ("event_id",)
    raise KeyError(f"{table} is not a lake table copied into {SCHEMA}")


@dataclass(frozen=True, slots=True)
class CopyResult:
    """One table's copy: rows read from the lake and added here, the snapshot now recorded."""

    table: str
    mode: Mode
    rows_read: int
    rows_added: int
    files: int
    snapshot_id: int | None
    previous_snapshot_id: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Plan:
    """What a copy reads: the files appended since the last copy, or everything (`files` None)."""

    mode: Mode
    files: tuple[DataFile, ...] | None


def plan_copy(table: Table, last: int | None) -> Plan:
    """Walk the snapshot log from the current snapshot back to `last` (oldest first)."""
    current = table.current_snapshot()
    if current is None:
        return Plan("unchanged" if last is None else "full", () if last is None else None)
    if last == current.snapshot_id:
        return Plan("unchanged", ())
    if last is None:
        return Plan("full", None)
    chain: list[Snapshot] = []
    snapshot: Snapshot | None = current
    while snapshot is not None and snapshot.snapshot_id != last:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:  # `last` expired or not an ancestor any more: start over
        return Plan("full", None)
    files: list[DataFile] = []
    for step in reversed(chain):
        operation = step.summary.operation if step.summary is not None else Operation.APPEND
        if operation == Operation.REPLACE:
            continue
        if operation != Operation.APPEND:
            return Plan("full", None)
        files.extend(added_files(table, step))
    return Plan("incremental", tuple(files))


def added_files(table: Table, snapshot: Snapshot) -> list[DataFile]:
    """The data files `snapshot` itself added (from its own manifests)."""
    files = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if (
                entry.status == ManifestEntryStatus.ADDED
                and entry.snapshot_id == snapshot.snapshot_id
            ):
                files.append(entry.data_file)
    return files


def _tasks(table: Table, columns: list[str], plan: Plan) -> list[FileScanTask]:
    if plan.files is None:  # everything the current snapshot holds (delete files applied)
        return list(table.scan(selected_fields=tuple(columns)).plan_files())
    return [FileScanTask(data_file) for data_file in plan.files]


def _columns(conn: psycopg.Connection[Any], name: str, lake: Table) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s"
        " and table_name = %s order by ordinal_position",
        (SCHEMA, name),
    ).fetchall()
    if not rows:
        raise LookupError(f"{SCHEMA}.{name} does not exist: run the migrations (dreamseed migrate)")
    have = {field.name for field in lake.schema().fields}
    return [str(r[0]) for r in rows if r[0] in have]


def _last_copied(conn: psycopg.Connection[Any], name: str) -> int | None:
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"dreamseed.{SCHEMA}:{name}",)
    )
    row = conn.execute(
        f"select snapshot_id from {SCHEMA}.{STATE_TABLE} where table_name = %s", (name,)
    ).fetchone()
    return int(row[0]) if row else None


def _load(conn: psycopg.Connection[Any], name: str, columns: list[str], data: pa.Table) -> int:
    """COPY one arrow table into the session's staging table; returns its rows."""
    if data.num_rows == 0:
        return 0
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with conn.cursor() as cur:
        statement = sql.SQL("copy {} ({}) from stdin").format(
            sql.Identifier(f"stage_{name}"), names
        )
        with cur.copy(statement) as copy:
            for batch in data.select(columns).to_batches(max_chunksize=10_000):
                for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                    copy.write_row(row)
    return int(data.num_rows)


def copy_table(settings: Settings, name: str) -> CopyResult:
    """Bring `lake_silver.<name>` up to the lake table's current snapshot (one transaction)."""
    started = time.perf_counter()
    key = conflict_key(name)
    try:
        lake = load_catalog(settings).load_table(identifier(settings, name))
    except NoSuchTableError:
        return CopyResult(name, "missing", 0, 0, 0, None, None, time.perf_counter() - started)
    current = lake.current_snapshot()
    target = current.snapshot_id if current is not None else None
    with psycopg.connect(settings.database_url) as conn, conn.transaction():
        last = _last_copied(conn, name)
        plan = plan_copy(lake, last)
        if plan.mode == "unchanged" or target is None:
            seconds = time.perf_counter() - started
            return CopyResult(name, "unchanged", 0, 0, 0, last, last, seconds)
        columns = _columns(conn, name, lake)
        conn.execute(
            sql.SQL("create temporary table {} (like {} including defaults) on commit drop").format(
                sql.Identifier(f"stage_{name}"), sql.Identifier(SCHEMA, name)
            )
        )
        if plan.mode == "full":
            conn.execute(sql.SQL("delete from {}").format(sql.Identifier(SCHEMA, name)))
        tasks = _tasks(lake, columns, plan)
        scan = ArrowScan(lake.metadata, lake.io, lake.schema().select(*columns), AlwaysTrue())
        read = sum(_load(conn, name, columns, scan.to_table([task])) for task in tasks)
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        cursor = conn.execute(
            sql.SQL(
                "insert into {} ({}) select distinct on ({}) {} from {} on conflict ({}) do nothing"
            ).format(
                sql.Identifier(SCHEMA, name),
                names,
                sql.SQL(", ").join(sql.Identifier(c) for c in key),
                names,
                sql.Identifier(f"stage_{name}"),
                sql.SQL(", ").join(sql.Identifier(c) for c in key),
            )
        )
        added = max(cursor.rowcount, 0)
        conn.execute(
            f"insert into {SCHEMA}.{STATE_TABLE} (table_name, snapshot_id, rows_copied, copied_at)"
            " values (%s, %s, %s, now()) on conflict (table_name) do update set"
            " snapshot_id = excluded.snapshot_id,"
            f" rows_copied = case when %s then 0 else {SCHEMA}.{STATE_TABLE}.rows_copied end"
            " + excluded.rows_copied, copied_at = now()",
            (name, target, added, plan.mode == "full"),
        )
    return CopyResult(
        name, plan.mode, read, added, len(tasks), target, last, time.perf_counter() - started
    )


def copy_tables(settings: Settings, tables: tuple[str, ...] = COPY_TABLES) -> dict[str, CopyResult]:
    """Copy each table in its own transaction (a failure leaves the others' copies made)."""
    return {name: copy_table(settings, name) for name in tables}


def copy_to_postgres(settings: Settings, table: str = "tutor_turns") -> int:
    """One table's copy; returns how many rows were added (the tutor's e2e test and callers
    from before the copy became incremental)."""
    return copy_table(settings, table).rows_added


def copy_states(settings: Settings) -> dict[str, int]:
    """table -> the lake snapshot its copy has reached."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(f"select table_name, snapshot_id from {SCHEMA}.{STATE_TABLE}")
        return {str(name): int(snapshot) for name, snapshot in rows.fetchall()}


def copy_lag(settings: Settings, tables: tuple[str, ...] = COPY_TABLES) -> dict[str, int]:
    """Tables whose lake snapshot the copy has not reached: table -> the lake's snapshot id."""
    copied = copy_states(settings)
    catalog = load_catalog(settings)
    behind: dict[str, int] = {}
    for name in tables:
        try:
            snapshot = catalog.load_table(identifier(settings, name)).current_snapshot()
        except NoSuchTableError:
            continue
        if snapshot is not None and copied.get(name) != snapshot.snapshot_id:
            behind[name] = snapshot.snapshot_id
    return behind
