"""Erasure of one student in a lake of N responses: the targeted rewrite (privacy.lake_rows:
only the data files holding her rows are rewritten, then history is cut and orphans removed)
against a full-table rewrite (every file read and written again), same table, same run.

Uses a scratch database and a private lake namespace (`bench_<hex>`, purged at the end) on the
configured S3; the silver `responses` table is filled with bench.lake's synthetic responses (2,000
items, 20 answers per attempt, 10 attempts per student, 30 days -> one file per day).

    uv run python -m bench privacy-erasure            # 1 M responses
    uv run python -m bench.privacy.erasure --responses 10000000
"""

from __future__ import annotations

import argparse
import itertools
import time

import psycopg
import pyarrow as pa

from bench.lake.lakehouse import response_chunks, scratch
from core.settings import Settings
from governance.inventory import load as load_inventory
from lake.catalog import load_catalog
from lake.pseudonym import pseudonymize
from lake.silver import ensure_silver_table
from lake.writer import append_arrow, write_day_partitions
from privacy import lake_rows
from privacy.lake_erasure import remove_orphans
from privacy.objects import Objects
from privacy.postgres import Subject


def _conform(chunk: pa.Table, schema: pa.Schema) -> pa.Table:
    """The synthetic chunk in the silver table's current schema: columns the generator does not
    make (e.g. `position`, added to the contract later) are nulls, or zeros where required."""
    columns = []
    for field in schema:
        if field.name in chunk.column_names:
            columns.append(chunk.column(field.name).cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(chunk.num_rows, field.type))
        else:
            columns.append(pa.array([0] * chunk.num_rows).cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def load(settings: Settings, total: int) -> None:
    chunks, _ = response_chunks(total, 1_000_000, settings.pseudonym_key)
    table = ensure_silver_table(load_catalog(settings), settings, "responses")
    tx = table.transaction()
    append = tx.update_snapshot().fast_append()
    schema = tx.table_metadata.schema().as_arrow()
    everything = pa.concat_tables([_conform(c, schema) for c in chunks])
    append_arrow(append, tx.table_metadata, table.io, everything, itertools.count(0))
    append.commit()
    tx.commit_transaction()


def full_rewrite(settings: Settings) -> tuple[float, int]:
    """The baseline: every data file read and written again in one OVERWRITE."""
    table = load_catalog(settings).load_table(f"{settings.lake_namespace}.responses")
    started = time.perf_counter()
    files = [task.file for task in table.scan().plan_files()]
    tx = table.transaction()
    with tx.update_snapshot().overwrite() as overwrite:
        counter = itertools.count(0)
        for old in files:
            content = lake_rows.read_file(table, old)
            overwrite.delete_data_file(old)
            for new in write_day_partitions(
                tx.table_metadata, table.io, content, overwrite.commit_uuid, counter
            ):
                overwrite.append_data_file(new)
    tx.commit_transaction()
    return time.perf_counter() - started, sum(f.file_size_in_bytes for f in files)


def targeted(settings: Settings, student: str) -> dict[str, float]:
    entry = load_inventory()["lake"]["responses"]
    table = load_catalog(settings).load_table(f"{settings.lake_namespace}.responses")
    key = pseudonymize(settings.pseudonym_key, student)
    tombstone = "00000000-0000-4000-8000-000000000000"
    subject = Subject(student, None, None, "student")
    table_bytes = lake_rows.table_bytes(table)
    started = time.perf_counter()
    table, rows, files = lake_rows.rewrite_subject(
        table,
        "responses",
        entry,
        subject,
        key,
        tombstone,
        pseudonymize(settings.pseudonym_key, tombstone),
    )
    rewrite_s = time.perf_counter() - started
    table, expired = lake_rows.cut_history(table)
    removed = remove_orphans(table, Objects(settings))
    total_s = time.perf_counter() - started
    left = table.scan(row_filter=f"student_key = '{key}'").to_arrow().num_rows
    return {
        "rows": rows,
        "files": len(files),
        "bytes": sum(f.file_size_in_bytes for f in files),
        "table_bytes": table_bytes,
        "rewrite_s": rewrite_s,
        "total_s": total_s,
        "expired": expired,
        "removed": removed,
        "left": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    args = parser.parse_args()
    settings, admin, name = scratch(Settings.load())
    print(f"scratch database {name}, lake namespace {settings.lake_namespace}")
    try:
        started = time.perf_counter()
        load(settings, args.responses)
        print(f"loaded {args.responses:,} responses in {time.perf_counter() - started:.1f}s")
        result = targeted(settings, "student-0")
        assert result["left"] == 0
        baseline_s, baseline_bytes = full_rewrite(settings)
        print(
            f"targeted erasure of one student: {result['rows']:.0f} rows in {result['files']:.0f}"
            f" files; rewrite {result['rewrite_s']:.2f}s, with history cut and orphan removal"
            f" {result['total_s']:.2f}s ({result['expired']:.0f} snapshots expired,"
            f" {result['removed']:.0f} files removed)"
        )
        print(
            f"  bytes rewritten {result['bytes'] / 1e6:.1f} MB of {result['table_bytes'] / 1e6:.1f}"
            f" MB ({result['bytes'] / result['table_bytes']:.1%})"
        )
        print(f"full-table rewrite: {baseline_s:.2f}s, {baseline_bytes / 1e6:.1f} MB")
        print(
            f"[ratio] targeted / full-table: time {result['rewrite_s'] / baseline_s:.2f}x,"
            f" bytes {result['bytes'] / baseline_bytes:.2f}x"
        )
    finally:
        catalog = load_catalog(settings)
        for ident in catalog.list_tables(settings.lake_namespace):
            catalog.purge_table(ident)
        catalog.drop_namespace(settings.lake_namespace)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
