"""Lake I/O of the IRT calibration: the response history at a pinned snapshot, and the
`item_parameters` Iceberg table (every calibrated version, with its provenance).

Reading is pinned: `pin_snapshot` records the current snapshot id of the source table once, and
`read_responses` scans exactly that snapshot (`iceberg_scan(..., snapshot_from_id => id)`), so a
calibration can be reproduced from its provenance even after later ingests.

Where responses come from is one `ResponseSource` (`response_source`): today the bronze
`outbox_events` (JSON payloads of `exams.response.recorded.v1`); once the silver `responses` table
exists with the columns below, it is used instead -- nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortOrder
from pyiceberg.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from core.settings import Settings
from lake.catalog import load_catalog
from lake.duck import open_session, scan_location
from lake.tables import OUTBOX_EVENTS, TableDef, ensure_table, identifier

RESPONSE_RECORDED = "exams.response.recorded.v1"
SILVER_RESPONSES = "responses"
ITEM_PARAMETERS = "item_parameters"

#: Columns every response source yields, in this order.
RESPONSE_COLUMNS = ("attempt_id", "exam_id", "student_id", "item_id", "is_correct", "answered_at")

CALIBRATION_ID_PROPERTY = "dreamseed.calibration.id"
SOURCE_TABLE_PROPERTY = "dreamseed.calibration.source_table"
SOURCE_SNAPSHOT_PROPERTY = "dreamseed.calibration.source_snapshot_id"


@dataclass(frozen=True, slots=True)
class ResponseSource:
    """A lake table holding responses, and the SQL turning a scan of it into RESPONSE_COLUMNS
    (`{scan}` is replaced by the pinned `iceberg_scan(...)`); one row per (attempt, item)."""

    table: str
    sql: str
    required_columns: frozenset[str]


BRONZE_RESPONSES = ResponseSource(
    table=OUTBOX_EVENTS,
    sql=f"""
    select attempt_id, exam_id, student_id, item_id, is_correct, answered_at
    from (
        select
            json_extract_string(payload, '$.attempt_id') as attempt_id,
            json_extract_string(payload, '$.exam_id') as exam_id,
            json_extract_string(payload, '$.student_id') as student_id,
            json_extract_string(payload, '$.item_id') as item_id,
            cast(json_extract(payload, '$.is_correct') as boolean) as is_correct,
            cast(json_extract_string(payload, '$.answered_at') as timestamptz) as answered_at,
            event_seq
        from {{scan}}
        where event_type = '{RESPONSE_RECORDED}'
    )
    -- the service answers an (attempt, item) once; keep the first event if one was repeated
    qualify row_number() over (partition by attempt_id, item_id order by event_seq) = 1
    """,
    required_columns=frozenset({"event_type", "payload", "event_seq"}),
)

# Part A's silver `responses` (lake/silver.py): typed contract columns, people pseudonymised
# (`student_key`), one row per response event.
SILVER = ResponseSource(
    table=SILVER_RESPONSES,
    sql="""
    select attempt_id, exam_id, student_key as student_id, item_id, is_correct, answered_at
    from {scan}
    where event_type like 'exams.response.recorded.%'
    qualify row_number() over (partition by attempt_id, item_id order by event_seq) = 1
    """,
    required_columns=frozenset(
        {"event_type", "event_seq", "attempt_id", "exam_id", "student_key", "item_id"}
        | {"is_correct", "answered_at"}
    ),
)


def response_source(catalog: Catalog, settings: Settings) -> ResponseSource:
    """The silver `responses` table when it exists with the needed columns, else bronze."""
    try:
        table = catalog.load_table(identifier(settings, SILVER_RESPONSES))
    except (NoSuchTableError, NoSuchNamespaceError):
        return BRONZE_RESPONSES
    names = {f.name for f in table.schema().fields}
    return SILVER if SILVER.required_columns <= names else BRONZE_RESPONSES


@dataclass(frozen=True, slots=True)
class PinnedSnapshot:
    """The snapshot of `table` a calibration reads; snapshot_id is None while it is empty."""

    table: str
    snapshot_id: int | None
    metadata_location: str | None

    @property
    def is_empty(self) -> bool:
        return self.snapshot_id is None


@dataclass(frozen=True, slots=True)
class ResponseHistory:
    """Responses at a pinned snapshot, as an Arrow table with RESPONSE_COLUMNS."""

    snapshot: PinnedSnapshot
    responses: pa.Table

    @property
    def n_responses(self) -> int:
        return int(self.responses.num_rows)


def _empty_responses() -> pa.Table:
    return pa.table(
        {
            "attempt_id": pa.array([], pa.string()),
            "exam_id": pa.array([], pa.string()),
            "student_id": pa.array([], pa.string()),
            "item_id": pa.array([], pa.string()),
            "is_correct": pa.array([], pa.bool_()),
            "answered_at": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def pin_snapshot(settings: Settings, source: ResponseSource | None = None) -> PinnedSnapshot:
    """Record the current snapshot of the response source (never writes)."""
    catalog = load_catalog(settings, create_namespace=False)
    chosen = source or response_source(catalog, settings)
    try:
        table = catalog.load_table(identifier(settings, chosen.table))
    except (NoSuchTableError, NoSuchNamespaceError):
        return PinnedSnapshot(chosen.table, None, None)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return PinnedSnapshot(chosen.table, None, table.metadata_location)
    return PinnedSnapshot(chosen.table, snapshot.snapshot_id, table.metadata_location)


def read_responses(
    settings: Settings,
    snapshot: PinnedSnapshot | None = None,
) -> ResponseHistory:
    """Responses at `snapshot` (default: pin the current one now)."""
    catalog = load_catalog(settings, create_namespace=False)
    source = response_source(catalog, settings)
    if snapshot is not None and snapshot.table != source.table:
        source = SILVER if snapshot.table == SILVER_RESPONSES else BRONZE_RESPONSES
    pinned = snapshot or pin_snapshot(settings, source)
    if pinned.snapshot_id is None or pinned.metadata_location is None:
        return ResponseHistory(pinned, _empty_responses())
    con = open_session(settings)
    try:
        frame = con.execute(_pinned_sql(source, pinned)).fetch_arrow_table()
    finally:
        con.close()
    return ResponseHistory(pinned, frame.select(list(RESPONSE_COLUMNS)))


def read_source_sql(snapshot: PinnedSnapshot) -> str:
    """DuckDB SQL yielding RESPONSE_COLUMNS at a pinned, non-empty snapshot (for streaming)."""
    if snapshot.snapshot_id is None or snapshot.metadata_location is None:
        raise ValueError(f"the lake table {snapshot.table!r} has no responses yet")
    source = SILVER if snapshot.table == SILVER_RESPONSES else BRONZE_RESPONSES
    return _pinned_sql(source, snapshot)


def _pinned_sql(source: ResponseSource, pinned: PinnedSnapshot) -> str:
    location = scan_location(str(pinned.metadata_location)).replace("'", "''")
    scan = f"iceberg_scan('{location}', snapshot_from_id => {int(pinned.snapshot_id or 0)})"
    return source.sql.replace("{scan}", scan)


# ------------------------------------------------------------------ item_parameters history
def _list(field_id: int, element_id: int, name: str, doc: str) -> NestedField:
    return NestedField(
        field_id,
        name,
        ListType(element_id, DoubleType(), element_required=True),
        required=True,
        doc=doc,
    )


ITEM_PARAMETERS_SCHEMA = Schema(
    NestedField(1, "calibration_id", StringType(), required=True),
    NestedField(2, "param_id", StringType(), required=True, doc="content.item_parameters row"),
    NestedField(3, "item_id", StringType(), required=True),
    NestedField(4, "version", IntegerType(), required=True, doc="parameter version of the item"),
    NestedField(5, "model", StringType(), required=True, doc="rasch, 1pl, 2pl, 3pl or grm"),
    NestedField(6, "role", StringType(), required=True, doc="operational or pilot"),
    NestedField(7, "a", DoubleType(), required=True),
    _list(8, 26, "b", "IRT thresholds, b = -d / a"),
    NestedField(9, "c", DoubleType(), required=True),
    _list(10, 27, "d", "intercepts"),
    NestedField(11, "se_a", DoubleType(), required=False),
    NestedField(12, "se_b", DoubleType(), required=False, doc="of the first threshold"),
    NestedField(13, "n_responses", LongType(), required=True),
    NestedField(14, "group_id", IntegerType(), required=True, doc="calibration group"),
    NestedField(15, "n_persons", LongType(), required=True, doc="attempts in the group"),
    NestedField(16, "log_likelihood", DoubleType(), required=True, doc="of the group"),
    NestedField(17, "converged", BooleanType(), required=True),
    NestedField(18, "iterations", IntegerType(), required=True),
    NestedField(19, "sx2", DoubleType(), required=False, doc="Orlando-Thissen S-X2"),
    NestedField(20, "sx2_df", IntegerType(), required=False),
    NestedField(21, "sx2_p", DoubleType(), required=False),
    NestedField(22, "is_promotable", BooleanType(), required=True),
    NestedField(23, "source_table", StringType(), required=True),
    NestedField(24, "source_snapshot_id", LongType(), required=True),
    NestedField(25, "created_at", TimestamptzType(), required=True, doc="UTC"),
    # linking to the live scale (theta_live = A * theta_new + B); added after the first release,
    # so older tables get them appended as nullable columns (ensure_item_parameters)
    NestedField(26, "link_method", StringType(), required=False, doc="stocking-lord, none, ..."),
    NestedField(27, "link_a", DoubleType(), required=False, doc="slope A of the linking"),
    NestedField(28, "link_b", DoubleType(), required=False, doc="intercept B of the linking"),
    NestedField(29, "link_anchors", IntegerType(), required=False, doc="anchor items used"),
)

ITEM_PARAMETERS_DEF = TableDef(
    name=ITEM_PARAMETERS,
    schema=ITEM_PARAMETERS_SCHEMA,
    partition_spec=PartitionSpec(),
    sort_order=SortOrder(),
    properties={"write.parquet.compression-codec": "zstd"},
)


def ensure_item_parameters(catalog: Catalog, settings: Settings) -> Table:
    """The table, with any column the schema gained since it was created added as nullable."""
    table = ensure_table(catalog, settings, ITEM_PARAMETERS_DEF)
    have = {f.name for f in table.schema().fields}
    missing = [f for f in ITEM_PARAMETERS_SCHEMA.fields if f.name not in have]
    if not missing:
        return table
    with table.update_schema() as update:
        update.union_by_name(Schema(*missing))
    return catalog.load_table(identifier(settings, ITEM_PARAMETERS))


def append_item_parameters(
    settings: Settings,
    rows: Sequence[dict[str, Any]],
    *,
    calibration_id: str,
    source: PinnedSnapshot,
) -> int | None:
    """Append one calibration's rows (dicts keyed by the schema's names) as one snapshot whose
    summary names the calibration and the source snapshot. Returns the new snapshot id."""
    if not rows:
        return None
    catalog = load_catalog(settings)
    table = ensure_item_parameters(catalog, settings)
    # the catalog assigns its own field ids on create: convert with the table's schema
    data = pa.Table.from_pylist(list(rows), schema=table.schema().as_arrow())
    table.append(
        data,
        snapshot_properties={
            CALIBRATION_ID_PROPERTY: calibration_id,
            SOURCE_TABLE_PROPERTY: source.table,
            SOURCE_SNAPSHOT_PROPERTY: str(source.snapshot_id),
        },
    )
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None
