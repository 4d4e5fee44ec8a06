"""Retention: each inventory retention class applied with the erasure's machinery, and a report
of what went.

Applied by class (`retention` of each entry, `days` and `then` from the inventory):

- `then: delete` in PostgreSQL — rows older than `days` by the entry's first `*_at` column are
  deleted (`free_text`: submissions after a school year; `decision_log`: the decision log after
  five years). The outbox (`outbox`) only loses rows the lake already holds (below the bronze
  ingest horizon) and older than its days, so retention never drops an event before shipping.
- `then: delete` in the lake — `policy_decisions` rows older than the decision-log days are
  dropped by an OVERWRITE of the files holding them, and the table's history is cut as erasure
  does, so no snapshot keeps them readable. Bronze and silver keep their rows (the lake is the
  history the marts and calibration are rebuilt from; severing learning data by age is a
  per-subject erasure).
- `then: sever` (learning, content) and `expire` (Redis, by its own TTLs) need no job.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from pyiceberg.table import Table

from core.settings import Settings
from governance.inventory import load as load_inventory
from lake import ingest
from lake.catalog import load_catalog
from lake.tables import OUTBOX_EVENTS, identifier
from lake.writer import write_day_partitions
from privacy import lake_rows
from privacy.lake_erasure import remove_orphans, writer_locks
from privacy.objects import Objects

LAKE_RETENTION = {"policy_decisions": "decided_at"}
OUTBOX = "events.outbox"


def _age_column(entry: Mapping[str, Any]) -> str | None:
    return next((c for c in entry["columns"] if c.endswith("_at")), None)


def _bronze_horizon(settings: Settings) -> int:
    catalog = load_catalog(settings, create_namespace=False)
    try:
        return ingest.read_horizon(catalog.load_table(identifier(settings, OUTBOX_EVENTS)))
    except Exception:  # no bronze table: nothing shipped, nothing may go
        return 0


def postgres_retention(
    conn: psycopg.Connection[Any], inventory: Mapping[str, Any], now: datetime, horizon: int
) -> dict[str, int]:
    classes = inventory["retention"]
    removed: dict[str, int] = {}
    for table, entry in inventory["postgres"].items():
        rule = classes[entry["retention"]]
        column = _age_column(entry)
        if rule["then"] != "delete" or rule["days"] is None or column is None:
            continue
        schema, name = table.split(".", 1)
        cutoff = now - timedelta(days=int(rule["days"]))
        query = sql.SQL("delete from {} where {} < %s").format(
            sql.Identifier(schema, name), sql.Identifier(column)
        )
        params: list[Any] = [cutoff]
        if table == OUTBOX:  # only what the lake already holds
            query = sql.SQL("{} and txid::text::bigint < %s").format(query)
            params.append(horizon)
        removed[table] = conn.execute(query, params).rowcount
    return removed


def _drop_old_rows(table: Table, column: str, cutoff: datetime) -> tuple[Table, int]:
    """One OVERWRITE snapshot without the rows older than `cutoff`."""
    replaced: list[tuple[Any, pa.Table]] = []
    dropped = 0
    cutoff_scalar = pa.scalar(cutoff, pa.timestamp("us", tz="UTC"))
    for task in table.scan(row_filter=f"{column} < '{cutoff.isoformat()}'").plan_files():
        content = lake_rows.read_file(table, task.file)
        old = pc.fill_null(pc.less(content.column(column), cutoff_scalar), False)
        hits = int(pc.sum(pc.cast(old, pa.int64())).as_py() or 0)
        if hits:
            dropped += hits
            replaced.append((task.file, content.filter(pc.invert(old))))
    if not replaced:
        return table, 0
    tx = table.transaction()
    properties = lake_rows.carried_properties(table)
    with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
        counter = itertools.count(0)
        for old_file, content in replaced:
            overwrite.delete_data_file(old_file)
            for new in write_day_partitions(
                tx.table_metadata, table.io, content, overwrite.commit_uuid, counter
            ):
                overwrite.append_data_file(new)
    tx.commit_transaction()
    return table.refresh(), dropped


def lake_retention(
    settings: Settings, inventory: Mapping[str, Any], now: datetime
) -> dict[str, int]:
    from contextlib import ExitStack

    classes = inventory["retention"]
    catalog = load_catalog(settings, create_namespace=False)
    objects = Objects(settings)
    removed: dict[str, int] = {}
    with ExitStack() as stack:
        for lock in writer_locks(settings):
            stack.enter_context(lock.on_own_connection(settings.database_url))
        for name, table in lake_rows.existing_tables(catalog, settings, LAKE_RETENTION).items():
            days = classes[inventory["lake"][name]["retention"]]["days"]
            if days is None:
                continue
            cutoff = now - timedelta(days=int(days))
            table, dropped = _drop_old_rows(table, LAKE_RETENTION[name], cutoff)
            if dropped:
                table, _ = lake_rows.cut_history(table)
                remove_orphans(table, objects)
            removed[name] = dropped
    return removed


def apply_retention(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Apply every retention class that removes data; return what went, per store and table."""
    inventory = load_inventory()
    at = now or datetime.now(UTC)
    horizon = _bronze_horizon(settings)
    with psycopg.connect(settings.database_url) as conn, conn.transaction():
        postgres = postgres_retention(conn, inventory, at, horizon)
    lake = lake_retention(settings, inventory, at)
    return {"at": at.isoformat(), "postgres": postgres, "lake": lake}
