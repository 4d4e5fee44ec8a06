"""The lake -> PostgreSQL copy for dbt (`lake/warehouse.py`): an incremental copy, which reads only
the data files appended since the last copy, against a full reload of the same table (every file
read, the copy emptied and refilled), same table, same run.

Uses a scratch database and a private lake namespace (`bench_<hex>`, purged at the end); the
silver `responses` table gets bench.lake's N synthetic responses in one snapshot, then a batch of
`--batch` more (fresh event ids) in a second append snapshot.

    uv run python -m bench lake-copy                  # N = 1 M, batch 10,000
    uv run python -m bench.lake.copy --responses 200000 --batch 2000
"""

from __future__ import annotations

import argparse
import itertools
import uuid

import psycopg
import pyarrow as pa

from bench.lake.lakehouse import response_chunks, scratch
from core.settings import Settings
from lake.catalog import load_catalog
from lake.silver import ensure_silver_table
from lake.warehouse import STATE_TABLE, copy_table
from lake.writer import append_arrow


def append(settings: Settings, total: int, fresh_ids: bool) -> None:
    """One append snapshot of `total` synthetic responses (fresh event ids: a later batch)."""
    chunks, _ = response_chunks(total, 1_000_000, settings.pseudonym_key)
    data = pa.concat_tables(chunks)
    if fresh_ids:
        ids = pa.array([str(uuid.uuid4()) for _ in range(data.num_rows)])
        data = data.set_column(data.column_names.index("event_id"), "event_id", ids)
    table = ensure_silver_table(load_catalog(settings), settings, "responses")
    tx = table.transaction()
    snapshot = tx.update_snapshot().fast_append()
    schema = tx.table_metadata.schema().as_arrow()
    columns = {
        f.name: data[f.name].cast(f.type)
        if f.name in data.column_names
        else pa.nulls(data.num_rows, f.type)
        for f in schema
    }
    append_arrow(
        snapshot,
        tx.table_metadata,
        table.io,
        pa.table(columns, schema=schema),
        itertools.count(0),
    )
    snapshot.commit()
    tx.commit_transaction()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    settings, admin, name = scratch(Settings.load())
    print(f"scratch database {name}, lake namespace {settings.lake_namespace}")
    try:
        append(settings, args.responses, fresh_ids=False)
        first = copy_table(settings, "responses")
        print(f"first copy ({first.mode}): {first.rows_added:,} rows in {first.seconds:.2f}s")
        append(settings, args.batch, fresh_ids=True)
        incremental = copy_table(settings, "responses")
        assert incremental.mode == "incremental"
        assert incremental.rows_added == incremental.rows_read == args.batch, incremental
        with psycopg.connect(settings.database_url) as conn:
            conn.execute(f"delete from lake_silver.{STATE_TABLE} where table_name = 'responses'")
        full = copy_table(settings, "responses")
        assert full.mode == "full" and full.rows_added == args.responses + args.batch, full
        print(
            f"incremental copy: {incremental.rows_added:,} new rows from {incremental.files} "
            f"file(s) in {incremental.seconds:.2f}s"
        )
        print(
            f"full reload (baseline): {full.rows_added:,} rows from {full.files} file(s) in "
            f"{full.seconds:.2f}s"
        )
        print(f"[ratio] incremental / full reload: time {incremental.seconds / full.seconds:.4f}x")
    finally:
        catalog = load_catalog(settings)
        for ident in catalog.list_tables(settings.lake_namespace):
            catalog.purge_table(ident)
        catalog.drop_namespace(settings.lake_namespace)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
