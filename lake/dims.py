"""Daily snapshots of the OLTP dimension tables: `dim_<name>_snapshots`, one partition per day.

Each table is appended at most once per `snapshot_date`: the date is stored in the summary of the
snapshot that appends its rows (one catalog commit), and a run first looks for it in the table's
snapshot log, so reruns, crashes and concurrent schedules never add a day twice. All dimensions of a
run are read in one REPEATABLE READ transaction (a consistent cut). No PII: person ids become
keyed pseudonyms, e-mails, names, password hashes, join codes, item stems and answer keys are not
copied. A snapshot records the state *when it runs*; the date defaults to today (UTC), and a past
date can only be filled with today's state (`dreamseed.dim.taken_at` says when).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortOrder
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    IcebergType,
    IntegerType,
    ListType,
    NestedField,
    StringType,
    TimestamptzType,
)

from core.db import AdvisoryLock
from core.settings import Settings
from lake.catalog import load_catalog
from lake.pseudonym import Pseudonymizer
from lake.tables import NO_COMMIT_RETRIES, TableDef, ensure_table
from lake.writer import append_arrow

SNAPSHOT_DATE_PROPERTY = "dreamseed.dim.snapshot_date"
TAKEN_AT_PROPERTY = "dreamseed.dim.taken_at"


@dataclass(frozen=True, slots=True)
class DimSpec:
    """One dimension: the SQL, and the columns (name, type, pseudonymise?) after snapshot_date."""

    name: str
    sql: str
    columns: tuple[tuple[str, IcebergType, bool], ...]

    def table_def(self) -> TableDef:
        ids = itertools.count(1)
        fields = [NestedField(next(ids), "snapshot_date", DateType(), required=True)]
        for column, kind, _ in self.columns:
            field_id = next(ids)
            if isinstance(kind, ListType):
                kind = ListType(next(ids), kind.element_type, element_required=False)
            fields.append(NestedField(field_id, column, kind, required=False))
        return TableDef(
            name=self.name,
            schema=Schema(*fields),
            partition_spec=PartitionSpec(
                PartitionField(1, 1000, IdentityTransform(), name="snapshot_day")
            ),
            sort_order=SortOrder(),
            properties={**NO_COMMIT_RETRIES, "write.parquet.compression-codec": "zstd"},
        )


_S, _T, _I = StringType(), TimestamptzType(), IntegerType()
_LIST = ListType(0, StringType(), element_required=False)

DIMENSIONS: tuple[DimSpec, ...] = (
    DimSpec(
        "dim_accounts_snapshots",
        "select user_id::text, role, created_at from users.accounts order by user_id",
        (("user_key", _S, True), ("role", _S, False), ("created_at", _T, False)),
    ),
    DimSpec(
        "dim_classes_snapshots",
        "select class_id::text, name, teacher_id::text, created_at from classes.classes"
        " order by class_id",
        (
            ("class_id", _S, False),
            ("name", _S, False),
            ("teacher_key", _S, True),
            ("created_at", _T, False),
        ),
    ),
    DimSpec(
        "dim_memberships_snapshots",
        "select class_id::text, student_id::text, joined_at from classes.memberships"
        " order by class_id, student_id",
        (("class_id", _S, False), ("student_key", _S, True), ("joined_at", _T, False)),
    ),
    DimSpec(
        "dim_items_snapshots",
        "select item_id::text, owner_id::text, version, status, scoring, skills, created_at,"
        " updated_at from content.items order by item_id",
        (
            ("item_id", _S, False),
            ("owner_key", _S, True),
            ("version", _I, False),
            ("status", _S, False),
            ("scoring", _S, False),
            ("skills", _LIST, False),
            ("created_at", _T, False),
            ("updated_at", _T, False),
        ),
    ),
    DimSpec(
        "dim_exams_snapshots",
        "select exam_id::text, owner_id::text, class_id::text, title, kind,"
        " cardinality(item_ids), created_at from exams.exams order by exam_id",
        (
            ("exam_id", _S, False),
            ("owner_key", _S, True),
            ("class_id", _S, False),
            ("title", _S, False),
            ("kind", _S, False),
            ("item_count", _I, False),
            ("created_at", _T, False),
        ),
    ),
)
DIM_TABLES: tuple[str, ...] = tuple(d.name for d in DIMENSIONS)


def snapshot_dates(table: Table) -> set[str]:
    """The dates already appended (walking the snapshot log)."""
    found = set()
    snapshot = table.current_snapshot()
    while snapshot is not None:
        if snapshot.summary is not None:
            value = snapshot.summary.additional_properties.get(SNAPSHOT_DATE_PROPERTY)
            if value is not None:
                found.add(value)
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return found


@dataclass(frozen=True, slots=True)
class DimResult:
    snapshot_date: date
    rows: dict[str, int]  # tables appended now
    skipped: tuple[str, ...]  # tables that already had the day
    seconds: float


def _arrow(
    spec: DimSpec, schema: pa.Schema, day: date, rows: list[tuple[Any, ...]], pseudo: Pseudonymizer
) -> pa.Table:
    data: dict[str, list[Any]] = {"snapshot_date": [day] * len(rows)}
    for i, (column, _, private) in enumerate(spec.columns):
        values = [r[i] for r in rows]
        data[column] = [pseudo(v) for v in values] if private else values
    return pa.Table.from_pydict(data, schema=schema)


def snapshot_dimensions(
    settings: Settings,
    day: date | None = None,
    *,
    before_commit: Callable[[str], None] | None = None,
) -> DimResult:
    """Append today's (or `day`'s) snapshot to every dimension table that lacks it."""
    started = time.perf_counter()
    when = day or datetime.now(UTC).date()
    taken_at = datetime.now(UTC)
    pseudo = Pseudonymizer(settings.pseudonym_key)
    appended: dict[str, int] = {}
    skipped: list[str] = []
    lock = AdvisoryLock(f"dreamseed.lake.dims:{settings.lake_namespace}")
    with lock.on_own_connection(settings.database_url):
        catalog = load_catalog(settings)
        tables = {d.name: ensure_table(catalog, settings, d.table_def()) for d in DIMENSIONS}
        todo = [d for d in DIMENSIONS if when.isoformat() not in snapshot_dates(tables[d.name])]
        skipped = [d.name for d in DIMENSIONS if d not in todo]
        data: dict[str, list[tuple[Any, ...]]] = {}
        if todo:
            with psycopg.connect(settings.database_url) as conn:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                with conn.transaction():
                    for spec in todo:
                        data[spec.name] = conn.execute(spec.sql).fetchall()
        for spec in todo:
            table = tables[spec.name]
            tx = table.transaction()
            append = tx.update_snapshot(
                snapshot_properties={
                    SNAPSHOT_DATE_PROPERTY: when.isoformat(),
                    TAKEN_AT_PROPERTY: taken_at.isoformat(),
                }
            ).fast_append()
            chunk = _arrow(
                spec, tx.table_metadata.schema().as_arrow(), when, data[spec.name], pseudo
            )
            append_arrow(append, tx.table_metadata, table.io, chunk, itertools.count(0))
            append.commit()
            if before_commit is not None:
                before_commit(spec.name)
            tx.commit_transaction()
            appended[spec.name] = chunk.num_rows
    return DimResult(when, appended, tuple(skipped), time.perf_counter() - started)
