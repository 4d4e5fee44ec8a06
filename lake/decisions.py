"""Ship `governance.decisions` (the policy audit log in PostgreSQL) to the silver Iceberg table
`policy_decisions`, exactly once.

The lake's one shipper (`lake.shipper`) does it: the rows with previous <= txid < H (the `txid`
column comes from migration 0010) in one Iceberg snapshot whose summary carries H. Person ids are pseudonymised:
`subject_id`, the resource's `owner_id`, and the resource's `id` when the resource is a person
(types in `PERSON_RESOURCE_TYPES`); a resource id that embeds a person's id (a submission is
`<assignment id>/<student id>`) gets her pseudonym in its place (`resource_id_of`). The raw
`resource` JSON is not copied. So no raw person id reaches the lake's decision log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import (
    BooleanType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from core.db import AdvisoryLock
from core.settings import Settings
from lake.catalog import load_catalog
from lake.pseudonym import Pseudonymizer
from lake.shipper import Shipment, Watermark, read_watermark, ship_below_horizon
from lake.tables import NO_COMMIT_RETRIES, TableDef, ensure_table, identifier

POLICY_DECISIONS = "policy_decisions"
DECISIONS_HORIZON_PROPERTY = "dreamseed.decisions.xmin_horizon"
DECISIONS_PREVIOUS_PROPERTY = "dreamseed.decisions.previous_horizon"
PERSON_RESOURCE_TYPES = frozenset({"user", "account", "student", "teacher", "consent"})


def resource_id_of(
    pseudo: Pseudonymizer,
    r_type: str | None,
    r_id: str | None,
    r_owner: str | None,
    subject_id: str | None,
) -> str | None:
    """The lake's `resource_id`: a pseudonym for a person; otherwise the id with any person id
    it embeds (the resource's owner's, the subject's) replaced by that person's pseudonym."""
    if r_id is None:
        return None
    if r_type in PERSON_RESOURCE_TYPES:
        return pseudo(r_id)
    for person in {p for p in (r_owner, subject_id) if p and len(p) >= 8}:
        if person in r_id:
            key = pseudo(person)
            assert key is not None
            r_id = r_id.replace(person, key)
    return r_id


POLICY_DECISIONS_SCHEMA = Schema(
    NestedField(1, "decision_id", StringType(), required=True),
    NestedField(2, "decided_at", TimestamptzType(), required=True, doc="UTC; partition day"),
    NestedField(3, "decision", StringType(), required=True, doc="rule path"),
    NestedField(4, "subject_key", StringType(), required=False, doc="pseudonym of subject_id"),
    NestedField(5, "subject_role", StringType(), required=False),
    NestedField(6, "action", StringType(), required=True),
    NestedField(7, "resource_type", StringType(), required=False),
    NestedField(8, "resource_id", StringType(), required=False, doc="pseudonym if a person"),
    NestedField(9, "resource_owner_key", StringType(), required=False),
    NestedField(10, "resource_class_id", StringType(), required=False),
    NestedField(11, "allowed", BooleanType(), required=True),
    NestedField(12, "reason", StringType(), required=False),
    NestedField(13, "policy_revision", StringType(), required=True),
    NestedField(14, "latency_us", LongType(), required=True),
    NestedField(15, "request_id", StringType(), required=False),
    NestedField(16, "shipped_at", TimestamptzType(), required=True),
    identifier_field_ids=[1],
)

POLICY_DECISIONS_DEF = TableDef(
    name=POLICY_DECISIONS,
    schema=POLICY_DECISIONS_SCHEMA,
    partition_spec=PartitionSpec(
        PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="decided_day")
    ),
    sort_order=SortOrder(SortField(source_id=2, transform=IdentityTransform())),
    properties={**NO_COMMIT_RETRIES, "write.parquet.compression-codec": "zstd"},
)

SELECT_SQL = """
select decision_id::text, decided_at, decision, subject_id, subject_role, action,
       resource->>'type', resource->>'id', resource->>'owner_id', resource->>'class_id',
       allowed, reason, policy_revision, latency_us, request_id
  from governance.decisions
 where txid >= %(previous)s::xid8 and txid < %(horizon)s::xid8
 order by decided_at, decision_id
"""
PENDING_SQL = """
select count(*) from governance.decisions
 where txid >= %(previous)s::xid8 and txid < pg_snapshot_xmin(pg_current_snapshot())
"""
FINAL_COUNT_SQL = "select count(*) from governance.decisions where txid < %(horizon)s::xid8"


def ensure_policy_decisions(settings: Settings) -> Table:
    return ensure_table(load_catalog(settings), settings, POLICY_DECISIONS_DEF)


def _rows_to_arrow(
    rows: list[tuple[Any, ...]], pseudo: Pseudonymizer, shipped_at: datetime
) -> pa.Table:
    columns: dict[str, list[Any]] = {f.name: [] for f in POLICY_DECISIONS_SCHEMA.fields}
    for (
        decision_id,
        decided_at,
        decision,
        subject_id,
        subject_role,
        action,
        r_type,
        r_id,
        r_owner,
        r_class,
        allowed,
        reason,
        revision,
        latency,
        request_id,
    ) in rows:
        columns["decision_id"].append(decision_id)
        columns["decided_at"].append(decided_at)
        columns["decision"].append(decision)
        columns["subject_key"].append(pseudo(subject_id))
        columns["subject_role"].append(subject_role)
        columns["action"].append(action)
        columns["resource_type"].append(r_type)
        columns["resource_id"].append(resource_id_of(pseudo, r_type, r_id, r_owner, subject_id))
        columns["resource_owner_key"].append(pseudo(r_owner))
        columns["resource_class_id"].append(r_class)
        columns["allowed"].append(allowed)
        columns["reason"].append(reason)
        columns["policy_revision"].append(revision)
        columns["latency_us"].append(latency)
        columns["request_id"].append(request_id)
        columns["shipped_at"].append(shipped_at)
    return pa.Table.from_pydict(columns, schema=POLICY_DECISIONS_SCHEMA.as_arrow())


def ship_decisions(settings: Settings, *, batch_size: int = 50_000) -> Shipment:
    """Append the decisions that became final since the last run to `policy_decisions`."""
    pseudo = Pseudonymizer(settings.pseudonym_key)
    shipped_at = datetime.now(UTC)

    def read_rows(conn: psycopg.Connection[Any], previous: int, horizon: int) -> Iterator[pa.Table]:
        with conn.cursor(name="dreamseed_decisions_ship") as cursor:
            cursor.itersize = batch_size
            cursor.execute(SELECT_SQL, {"previous": str(previous), "horizon": str(horizon)})
            while batch := cursor.fetchmany(batch_size):
                yield _rows_to_arrow(batch, pseudo, shipped_at)

    return ship_below_horizon(
        settings.database_url,
        lock=AdvisoryLock(f"dreamseed.lake.decisions:{settings.lake_namespace}"),
        open_table=lambda: ensure_policy_decisions(settings),
        watermark=Watermark(DECISIONS_HORIZON_PROPERTY, DECISIONS_PREVIOUS_PROPERTY),
        read_rows=read_rows,
    )


def pending_decisions(settings: Settings) -> int:
    """Final decisions not yet shipped (sensor)."""
    catalog = load_catalog(settings, create_namespace=False)
    try:
        previous = read_watermark(
            catalog.load_table(identifier(settings, POLICY_DECISIONS)), DECISIONS_HORIZON_PROPERTY
        )
    except (NoSuchTableError, NoSuchNamespaceError):
        previous = 0
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(PENDING_SQL, {"previous": str(previous)}).fetchone()
    return int(row[0]) if row else 0
