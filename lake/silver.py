"""Typed silver tables derived from the bronze `outbox_events`, exactly once.

Silver derives from bronze, never from the outbox, so bronze stays the replayable source: a silver
table can be rebuilt at any time (`rebuild_silver`) and a new silver table backfills itself from
the whole bronze history on its first run.

Routing. An event goes to the silver table of its family (`<domain>.<entity>`, `SILVER_ROUTES`) and
is decoded with its contract (`lake.contracts.decode`: core.events first, then the contracts the
lake expects). Events of an unknown family or of a version nobody registered stay in bronze and are
counted (`SilverResult.unknown`, `lake.audit.audit_silver`), never dropped; a payload that does
not match its own contract is counted as rejected in the snapshot summary of its table.

Columns. Five envelope columns (event_id, event_seq, event_type, event_version, occurred_at), then
the union of the routed contracts' fields (`lake.contracts.contract_columns`); person ids are
stored only as keyed pseudonyms (`lake.pseudonym`). Registering a new contract version with new
fields adds them as nullable columns (`update_schema().union_by_name`) before the next append:
metadata only, earlier files are never rewritten and read as null.

Exactly once. Each bronze ingest commits one snapshot carrying its xid horizon H. A silver table's
watermark is the bronze horizon it has consumed, stored in the summary of the silver snapshot that
appends the derived rows -- data and watermark move in one catalog commit per table. A run reads
the bronze data files *added* by the ingest snapshots above the smallest watermark (walking the
snapshot log, so compaction snapshots are skipped) and gives each table only the rows of slices
above its own watermark. A crash between two tables' commits leaves each table consistent with its
own watermark; the rerun re-derives exactly the missing range. Tables are serialised by an advisory
lock and refuse rebased commits (`commit.retry.num-retries = 0`). A table that receives nothing
keeps its watermark until it lags `IDLE_ADVANCE_SLICES` bronze snapshots, then an empty snapshot
moves it (bounded rescans without one empty snapshot per table per run).

Retention note: snapshot expiry on bronze must keep the snapshots (and files) above the smallest
silver watermark, or silver would miss them (`lake.audit.audit_silver` would then report missing).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

from core.db import AdvisoryLock
from core.events import Event
from core.settings import Settings
from lake.bronze import (
    BRONZE_COLUMNS,
    BronzeSlice,
    bronze_slices,
    groups,
    ingest_ancestors,
    read_bronze_file,
)
from lake.catalog import load_catalog
from lake.contracts import (
    ColumnType,
    contract_columns,
    decode,
    family,
    iceberg_type,
    known_contracts,
    version,
)
from lake.pseudonym import PERSON_FIELDS, Pseudonymizer
from lake.shipper import StagedSnapshot, read_watermark
from lake.tables import NO_COMMIT_RETRIES, OUTBOX_EVENTS, TableDef, ensure_outbox_events, identifier
from lake.tables import ensure_table as ensure_table_def

SILVER_HORIZON_PROPERTY = "dreamseed.silver.bronze_horizon"
SILVER_PREVIOUS_PROPERTY = "dreamseed.silver.previous_bronze_horizon"
SILVER_BRONZE_SNAPSHOT_PROPERTY = "dreamseed.silver.bronze_snapshot_id"
SILVER_REJECTED_PROPERTY = "dreamseed.silver.rejected"
SILVER_REBUILD_PROPERTY = "dreamseed.silver.rebuild"

IDLE_ADVANCE_SLICES = 16
DEFAULT_GROUP_ROWS = 500_000
FLUSH_ROWS = 50_000

# Family -> silver table. Every family of core.events.EVENT_TYPES must be here (a unit test says
# so); families the lake expects but nobody emits yet are listed too.
SILVER_ROUTES: dict[str, str] = {
    "users.user": "user_events",
    "classes.class": "class_events",
    "classes.membership": "class_events",
    "content.item": "item_events",
    "content.item_parameters": "item_events",
    "exams.exam": "exam_events",
    "exams.attempt": "attempts",
    "exams.response": "responses",
    "exams.item": "item_selections",
    "learning.course": "lesson_events",
    "learning.unit": "lesson_events",
    "learning.lesson": "lesson_events",
    "learning.media": "media_events",
    "learning.record": "learning_records",
    "lrs.credential": "lrs_credential_events",
    "assignments.assignment": "assignment_events",
    "assignments.work": "submissions",
    "tutor.turn": "tutor_turns",
    "notifications.notification": "notifications",
}

SILVER_TABLES: tuple[str, ...] = tuple(sorted(set(SILVER_ROUTES.values())))

ENVELOPE: tuple[tuple[str, Any, str], ...] = (
    ("event_id", StringType(), "event UUID (bronze event_id), unique in the table"),
    ("event_seq", LongType(), "events.outbox.event_seq"),
    ("event_type", StringType(), "full contract name, with its version"),
    ("event_version", IntegerType(), "N of .vN"),
    ("occurred_at", TimestamptzType(), "UTC; the table is partitioned by its day"),
)
ENVELOPE_NAMES = frozenset(name for name, _, _ in ENVELOPE)


def route(event_type: str) -> str | None:
    """The silver table of an event type, or None (stays in bronze, counted as unknown)."""
    return SILVER_ROUTES.get(family(event_type))


def contracts_for(table: str) -> dict[str, type[Event]]:
    """Registered contracts (core + expected) that land in `table`, by event type."""
    return {t: c for t, c in sorted(known_contracts().items()) if route(t) == table}


def silver_columns(table: str) -> list[ColumnType]:
    """The union of the routed contracts' columns (first declaration order); a name declared with
    two different types is a contract bug and raises."""
    seen: dict[str, ColumnType] = {}
    for event_type, contract in contracts_for(table).items():
        for column in contract_columns(contract):
            if column.name in ENVELOPE_NAMES:
                raise TypeError(f"{event_type}: field {column.name} clashes with the envelope")
            have = seen.get(column.name)
            if have is None:
                seen[column.name] = column
            elif have.kind != column.kind:
                raise TypeError(
                    f"{table}.{column.name}: {event_type} declares {column.kind}, "
                    f"another contract {have.kind}"
                )
    return list(seen.values())


def silver_schema(table: str) -> Schema:
    ids = itertools.count(1)
    fields = [
        NestedField(next(ids), name, kind, required=True, doc=doc) for name, kind, doc in ENVELOPE
    ]
    for column in silver_columns(table):
        field_id = next(ids)
        fields.append(
            NestedField(
                field_id,
                column.name,
                iceberg_type(column.kind, lambda: next(ids)),
                required=False,
                doc="pseudonym: HMAC-SHA256 hex" if column.name in PERSON_VALUES else None,
            )
        )
    return Schema(*fields, identifier_field_ids=[1])


PERSON_VALUES = frozenset(PERSON_FIELDS.values())


def silver_table_def(table: str) -> TableDef:
    return TableDef(
        name=table,
        schema=silver_schema(table),
        partition_spec=PartitionSpec(
            PartitionField(
                source_id=5, field_id=1000, transform=DayTransform(), name="occurred_day"
            )
        ),
        sort_order=SortOrder(SortField(source_id=2, transform=IdentityTransform())),
        properties={**NO_COMMIT_RETRIES, "write.parquet.compression-codec": "zstd"},
    )


def ensure_silver_table(catalog: Catalog, settings: Settings, table: str) -> Table:
    """Create the table, or add the columns of newly registered contracts (nullable, metadata-only
    commit, earlier files untouched). A changed type for an existing column raises."""
    definition = silver_table_def(table)
    current = ensure_table_def(catalog, settings, definition)
    have = {f.name: f for f in current.schema().fields}
    wanted = definition.schema
    missing = [f for f in wanted.fields if f.name not in have]
    for f in wanted.fields:
        old = have.get(f.name)
        if old is not None and str(old.field_type) != str(f.field_type):
            promotable = isinstance(old.field_type, IntegerType) and isinstance(
                f.field_type, LongType
            )
            if not promotable:
                raise TypeError(
                    f"silver {table}.{f.name} is {old.field_type}, a contract now says "
                    f"{f.field_type}: publish a new field instead of changing a type"
                )
    if not missing:
        return current
    with current.update_schema() as update:
        update.union_by_name(Schema(*missing))
    return catalog.load_table(identifier(settings, table))


# ---------------------------------------------------------------------------------------------
# Deriving


def silver_row(
    event: Event,
    pseudo: Pseudonymizer,
    envelope: dict[str, Any],
) -> dict[str, Any]:
    """Envelope + contract fields; person ids replaced by their pseudonyms."""
    row = dict(envelope)
    for name, value in msgspec.structs.asdict(event).items():
        key = PERSON_FIELDS.get(name)
        if key is not None:
            row[key] = pseudo.each(value) if isinstance(value, list) else pseudo(value)
        else:
            row[name] = value
    return row


@dataclass
class _Pending:
    """One silver table's share of a group: rows buffered, files staged in one snapshot."""

    name: str
    staged: StagedSnapshot
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def flush(self) -> None:
        if self.rows:
            self.staged.add(pa.Table.from_pylist(self.rows, schema=self.staged.arrow_schema()))
            self.rows = []

    def commit(self, before_commit: Callable[[str], None] | None) -> Table:
        """Commit what was staged -- an empty snapshot when only rejected rows or an idle
        advance moved the watermark."""
        self.flush()
        self.staged.properties[SILVER_REJECTED_PROPERTY] = str(self.rejected)
        return self.staged.commit(
            None if before_commit is None else lambda: before_commit(self.name)
        )


@dataclass(frozen=True, slots=True)
class SilverResult:
    rows: dict[str, int]
    rejected: dict[str, int]
    unknown: dict[str, int]
    slices: int
    horizon: int
    commits: int
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _staged(name: str, table: Table, upto: BronzeSlice, mark: int) -> _Pending:
    """Stage `name`'s next snapshot: it consumes bronze up to `upto`, from its watermark `mark`."""
    properties = {
        SILVER_HORIZON_PROPERTY: str(upto.horizon),
        SILVER_PREVIOUS_PROPERTY: str(mark),
        SILVER_BRONZE_SNAPSHOT_PROPERTY: str(upto.snapshot_id),
    }
    return _Pending(name, StagedSnapshot(table, properties))


def _lock_key(settings: Settings) -> str:
    return f"dreamseed.lake.silver:{settings.lake_namespace}"


def derive_silver(
    settings: Settings,
    *,
    tables: Iterable[str] | None = None,
    group_rows: int = DEFAULT_GROUP_ROWS,
    advance_idle: bool = False,
    before_commit: Callable[[str], None] | None = None,
) -> SilverResult:
    """Derive every silver table (or `tables`) up to the current bronze snapshot.

    Slices are processed in groups of about `group_rows` bronze rows; each group ends with one
    commit per table that received rows. `advance_idle` moves idle tables' watermarks at once
    (tests, backfills); otherwise only after `IDLE_ADVANCE_SLICES`. `before_commit(table)` runs
    after a table's files are written and before its catalog commit (crash tests).
    """
    started = time.perf_counter()
    names = tuple(sorted(set(tables))) if tables is not None else SILVER_TABLES
    unknown_names = set(names) - set(SILVER_TABLES)
    if unknown_names:
        raise ValueError(f"not silver tables: {sorted(unknown_names)}")
    pseudo = Pseudonymizer(settings.pseudonym_key)
    rows_by_table: Counter[str] = Counter()
    rejected_by_table: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    commits = 0
    with AdvisoryLock(_lock_key(settings)).on_own_connection(settings.database_url):
        catalog = load_catalog(settings)
        bronze = ensure_outbox_events(catalog, settings)
        targets = {name: ensure_silver_table(catalog, settings, name) for name in names}
        marks = {name: read_watermark(t, SILVER_HORIZON_PROPERTY) for name, t in targets.items()}
        slices = bronze_slices(bronze, min(marks.values()))
        contracts = known_contracts()
        for group in groups(slices, group_rows):
            last = group[-1]
            pending: dict[str, _Pending] = {}
            for piece in group:
                for data_file in piece.files:
                    chunk = read_bronze_file(bronze, data_file)
                    for seq, event_id, event_type, occurred, payload in zip(
                        *(chunk.column(c).to_pylist() for c in BRONZE_COLUMNS), strict=True
                    ):
                        name = route(event_type)
                        contract = contracts.get(event_type)
                        if name is None or contract is None:
                            if name is None or name in marks:
                                unknown[event_type] += 1
                            continue
                        if name not in marks or marks[name] >= piece.horizon:
                            continue
                        slot = pending.get(name)
                        if slot is None:
                            slot = pending[name] = _staged(name, targets[name], last, marks[name])
                        try:
                            event = decode(event_type, payload)
                        except (msgspec.ValidationError, msgspec.DecodeError):
                            slot.rejected += 1
                            continue
                        slot.rows.append(
                            silver_row(
                                event,
                                pseudo,
                                {
                                    "event_id": event_id,
                                    "event_seq": seq,
                                    "event_type": event_type,
                                    "event_version": version(event_type),
                                    "occurred_at": occurred,
                                },
                            )
                        )
                        if len(slot.rows) >= FLUSH_ROWS:
                            slot.flush()
            for name, slot in sorted(pending.items()):
                targets[name] = slot.commit(before_commit)
                marks[name] = last.horizon
                rows_by_table[name] += slot.staged.rows
                rejected_by_table[name] += slot.rejected
                commits += 1
        # Idle tables: nothing of theirs in the slices they lag behind.
        top = slices[-1] if slices else None
        if top is not None:
            for name in names:
                lag = sum(1 for s in slices if s.horizon > marks[name])
                if lag and (advance_idle or lag >= IDLE_ADVANCE_SLICES):
                    slot = _staged(name, targets[name], top, marks[name])
                    targets[name] = slot.commit(before_commit)
                    marks[name] = top.horizon
                    commits += 1
    return SilverResult(
        rows={n: rows_by_table[n] for n in names},
        rejected={n: rejected_by_table[n] for n in names if rejected_by_table[n]},
        unknown=dict(unknown),
        slices=len(slices),
        horizon=min(marks.values()) if marks else 0,
        commits=commits,
        seconds=time.perf_counter() - started,
    )


def silver_watermarks(settings: Settings) -> dict[str, int]:
    """Each existing silver table's bronze horizon (0 for missing tables). Never writes."""
    catalog = load_catalog(settings, create_namespace=False)
    marks = {}
    for name in SILVER_TABLES:
        try:
            table = catalog.load_table(identifier(settings, name))
        except (NoSuchTableError, NoSuchNamespaceError):
            marks[name] = 0
            continue
        marks[name] = read_watermark(table, SILVER_HORIZON_PROPERTY)
    return marks


def pending_silver(settings: Settings) -> int:
    """Bronze ingest snapshots no silver run has consumed yet (for the sensor).

    Measured against the most advanced watermark: idle tables lag on purpose (see
    `IDLE_ADVANCE_SLICES`), so the least advanced one would keep the sensor firing. A table left
    behind by a crash between table commits is caught up by the next run (the next outbox event,
    or the hourly schedule)."""
    catalog = load_catalog(settings, create_namespace=False)
    try:
        bronze = catalog.load_table(identifier(settings, OUTBOX_EVENTS))
    except (NoSuchTableError, NoSuchNamespaceError):
        return 0
    high = max(silver_watermarks(settings).values())
    return len(ingest_ancestors(bronze, high))


def rebuild_silver(settings: Settings, tables: Iterable[str]) -> SilverResult:
    """Backfill: empty the tables and reset their watermarks (one commit each, both together),
    then derive them again from the whole bronze history."""
    names = tuple(sorted(set(tables)))
    with AdvisoryLock(_lock_key(settings)).on_own_connection(settings.database_url):
        catalog = load_catalog(settings)
        for name in names:
            if name not in SILVER_TABLES:
                raise ValueError(f"not a silver table: {name}")
            table = ensure_silver_table(catalog, settings, name)
            empty = table.schema().as_arrow().empty_table()
            table.overwrite(
                empty,
                snapshot_properties={
                    SILVER_HORIZON_PROPERTY: "0",
                    SILVER_PREVIOUS_PROPERTY: str(read_watermark(table, SILVER_HORIZON_PROPERTY)),
                    SILVER_REBUILD_PROPERTY: "true",
                },
            )
    return derive_silver(settings, tables=names, advance_idle=True)
