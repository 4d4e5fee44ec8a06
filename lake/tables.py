"""Iceberg table definitions of the lake, and create-if-missing.

Bronze `outbox_events` is a faithful copy of `events.outbox` (one row per event, payload kept as
its JSON text so every contract version stays readable), partitioned by day of `occurred_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from core.settings import Settings
from lake.storage import table_location

OUTBOX_EVENTS = "outbox_events"

# Concurrent appends must fail rather than be silently rebased onto the winner's snapshot: the
# ingest's watermark lives in the snapshot it commits, so a rebased duplicate would be wrong.
NO_COMMIT_RETRIES = {"commit.retry.num-retries": "0"}


@dataclass(frozen=True, slots=True)
class TableDef:
    name: str
    schema: Schema
    partition_spec: PartitionSpec
    sort_order: SortOrder
    properties: dict[str, str]

    def arrow_schema(self) -> pa.Schema:
        return self.schema.as_arrow()


OUTBOX_EVENTS_SCHEMA = Schema(
    NestedField(1, "event_seq", LongType(), required=True, doc="events.outbox.event_seq"),
    NestedField(2, "event_id", StringType(), required=True, doc="event UUID, unique"),
    NestedField(3, "event_type", StringType(), required=True, doc="<domain>.<entity>.<verb>.vN"),
    NestedField(4, "aggregate_id", StringType(), required=True),
    NestedField(5, "occurred_at", TimestamptzType(), required=True, doc="UTC"),
    NestedField(6, "payload", StringType(), required=True, doc="the event contract as JSON text"),
    NestedField(7, "ingested_at", TimestamptzType(), required=True, doc="UTC, set by the ingest"),
    identifier_field_ids=[2],
)

OUTBOX_EVENTS_DEF = TableDef(
    name=OUTBOX_EVENTS,
    schema=OUTBOX_EVENTS_SCHEMA,
    partition_spec=PartitionSpec(
        PartitionField(source_id=5, field_id=1000, transform=DayTransform(), name="occurred_day")
    ),
    sort_order=SortOrder(SortField(source_id=1, transform=IdentityTransform())),
    properties={**NO_COMMIT_RETRIES, "write.parquet.compression-codec": "zstd"},
)

TABLES: dict[str, TableDef] = {OUTBOX_EVENTS: OUTBOX_EVENTS_DEF}


def identifier(settings: Settings, table: str) -> str:
    return f"{settings.lake_namespace}.{table}"


def ensure_table(catalog: Catalog, settings: Settings, definition: TableDef) -> Table:
    """Create the table if it is missing; return it (existing tables are left as they are,
    apart from the commit-retry property, which correctness depends on)."""
    name = identifier(settings, definition.name)
    try:
        # Load first: pyiceberg's create_table_if_not_exists writes a metadata file before it
        # learns that the table exists, leaving an orphan file on every call.
        table = catalog.load_table(name)
    except NoSuchTableError:
        table = catalog.create_table_if_not_exists(
            name,
            schema=definition.schema,
            location=table_location(settings, definition.name),
            partition_spec=definition.partition_spec,
            sort_order=definition.sort_order,
            properties=definition.properties,
        )
    missing = {k: v for k, v in NO_COMMIT_RETRIES.items() if table.properties.get(k) != v}
    if missing:
        with table.transaction() as tx:
            tx.set_properties(missing)
        table = catalog.load_table(name)
    return table


def ensure_outbox_events(catalog: Catalog, settings: Settings) -> Table:
    return ensure_table(catalog, settings, OUTBOX_EVENTS_DEF)
