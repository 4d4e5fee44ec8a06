"""Lakehouse benchmark: ingest throughput and a typical analyst query, with named baselines.

    uv run python bench/lake/lakehouse.py [--events 300000] [--responses 10000000]
                                          [--baseline-sample 40] [--repeat 3]

Everything runs against a scratch database (`dreamseed_bench_<hex>`, migrated, dropped at the end)
and a private lake namespace (`bench_<hex>`, tables purged at the end) on the configured S3.

1. Ingest: `--events` outbox rows (exams.response.recorded.v1 payloads) are generated in bulk by
   PostgreSQL, then `lake.ingest.ingest_outbox` copies them to the bronze Iceberg table; the silver
   step (`lake.silver.derive_silver`) is timed too. Baseline "pyiceberg append per event": the same
   rows inserted one by one, each a `table.append()` of a one-row Arrow table (what a naive
   consumer does), measured on `--baseline-sample` events and extrapolated to events/s.
2. Query: per-item facility (share correct, count) over `--responses` synthetic responses, loaded
   in bulk into PostgreSQL (COPY of CSV, a table shaped like exams.responses) and into the silver
   `responses` Iceberg table (pyarrow, day partitions). DuckDB over Iceberg vs PostgreSQL, best and
   median of `--repeat` warm runs each, alternating. No timed asserts: figures and ratios are printed.
"""

from __future__ import annotations

import argparse
import io
import itertools
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlparse

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pyiceberg.partitioning import PartitionSpec

from core.migrate import migrate
from core.settings import Settings
from lake.catalog import load_catalog
from lake.duck import open_session, scan_location
from lake.ingest import ingest_outbox, pending_events
from lake.pseudonym import pseudonymize
from lake.silver import derive_silver, ensure_silver_table
from lake.tables import OUTBOX_EVENTS_DEF, TableDef, ensure_table
from lake.writer import append_arrow

GENERATE_OUTBOX_SQL = """
insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)
select gen_random_uuid(), 'exams.response.recorded.v1', a::text,
       now() - (g %% 30) * interval '1 day',
       jsonb_build_object(
         'attempt_id', a::text, 'exam_id', e::text, 'student_id', s::text,
         'item_id', md5((g %% 500)::text)::uuid::text, 'choice', g %% 4,
         'is_correct', g %% 3 = 0,
         'answered_at', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  from generate_series(1, %(n)s) g,
       lateral (select md5('a' || (g / 20)::text)::uuid as a,
                       md5('e' || (g %% 50)::text)::uuid as e,
                       md5('s' || (g / 200)::text)::uuid as s) ids
"""

FACILITY_SQL = (
    "select item_id, count(*) as responses,"
    " avg(case when is_correct then 1.0 else 0.0 end) as facility"
    " from {source} group by item_id order by item_id"
)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def scratch(base: Settings) -> tuple[Settings, str, str]:
    suffix = secrets.token_hex(4)
    name = f"dreamseed_bench_{suffix}"
    admin = urlparse(base.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlparse(base.database_url)._replace(path=f"/{name}").geturl()
    migrate(url)
    return replace(base, database_url=url, lake_namespace=f"bench_{suffix}"), admin, name


def bench_ingest(settings: Settings, events: int, sample: int) -> dict[str, float]:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(GENERATE_OUTBOX_SQL, {"n": events})
    deadline = time.monotonic() + 120
    while pending_events(settings) < events:
        if time.monotonic() > deadline:
            raise RuntimeError("outbox rows never became final (a transaction is stuck open)")
        time.sleep(0.1)
    result = ingest_outbox(settings)
    assert result.rows == events, result
    silver = derive_silver(settings, tables=["responses"])
    assert silver.rows["responses"] == events, silver

    # Baseline: one pyiceberg append per event, into an unpartitioned copy of the bronze schema
    # (pyiceberg's own partitioned writer needs pyiceberg-core, absent here; unpartitioned is the
    # cheaper case for the baseline).
    catalog = load_catalog(settings)
    rowwise = ensure_table(
        catalog,
        settings,
        TableDef(
            name="outbox_events_rowwise",
            schema=OUTBOX_EVENTS_DEF.schema,
            partition_spec=PartitionSpec(),
            sort_order=OUTBOX_EVENTS_DEF.sort_order,
            properties=OUTBOX_EVENTS_DEF.properties,
        ),
    )
    bronze = catalog.load_table(f"{settings.lake_namespace}.outbox_events")
    rows = bronze.scan(limit=sample).to_arrow()
    started = time.perf_counter()
    for i in range(rows.num_rows):
        rowwise.append(rows.slice(i, 1))
    per_event = (time.perf_counter() - started) / rows.num_rows
    return {
        "events": events,
        "ingest_seconds": result.seconds,
        "ingest_rate": result.rows_per_second,
        "silver_seconds": silver.seconds,
        "silver_rate": events / silver.seconds,
        "baseline_per_event_ms": per_event * 1000,
        "baseline_rate": 1 / per_event,
        "baseline_sample": rows.num_rows,
    }


def response_chunks(total: int, chunk: int, key: str) -> tuple[list[pa.Table], int]:
    """Synthetic responses: 2,000 items of varied difficulty, 20 answers per attempt, 30 days."""
    rng = np.random.default_rng(7)
    items = pa.array([str(uuid.UUID(int=int(i) + 1)) for i in range(2000)])
    difficulty = rng.uniform(0.2, 0.9, size=2000)
    attempts_n = max(1, total // 20)
    attempt_pool = pa.array([str(uuid.UUID(int=(1 << 64) + i)) for i in range(attempts_n)])
    students_n = max(1, attempts_n // 10)
    student_keys = pa.array([pseudonymize(key, f"student-{i}") for i in range(students_n)])
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    out = []
    for offset in range(0, total, chunk):
        n = min(chunk, total - offset)
        seq = np.arange(offset, offset + n, dtype=np.int64)
        attempt_ix = seq // 20
        item_ix = rng.integers(0, 2000, size=n)
        correct = rng.random(n) < difficulty[item_ix]
        at = start + (seq * 259_200_000_000 // total) * 10  # spread over 30 days
        ts = pa.array(at, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        out.append(
            pa.table(
                {
                    "event_id": pc.cast(pa.array(seq), pa.string()),
                    "event_seq": pa.array(seq),
                    "event_type": pa.repeat("exams.response.recorded.v1", n),
                    "event_version": pa.repeat(pa.scalar(1, pa.int32()), n),
                    "occurred_at": ts,
                    "attempt_id": pc.take(attempt_pool, pa.array(attempt_ix)),
                    "exam_id": pa.repeat(str(uuid.UUID(int=99)), n),
                    "student_key": pc.take(student_keys, pa.array(attempt_ix % students_n)),
                    "item_id": pc.take(items, pa.array(item_ix)),
                    "choice": pa.array(rng.integers(0, 4, size=n)),
                    "is_correct": pa.array(correct),
                    "answered_at": ts,
                }
            )
        )
    return out, attempts_n


def load_responses(settings: Settings, total: int) -> dict[str, float]:
    chunks, _ = response_chunks(total, 1_000_000, settings.pseudonym_key)
    # PostgreSQL: COPY of CSV into a table shaped like exams.responses (no FK to attempts).
    started = time.perf_counter()
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "create table bench_responses (attempt_id uuid not null, item_id uuid not null,"
            " choice integer not null, is_correct boolean not null,"
            " answered_at timestamptz not null)"
        )
        with conn.cursor() as cur, cur.copy("copy bench_responses from stdin (format csv)") as copy:
            for chunk in chunks:
                buffer = io.BytesIO()
                pacsv.write_csv(
                    chunk.select(["attempt_id", "item_id", "choice", "is_correct", "answered_at"]),
                    buffer,
                    write_options=pacsv.WriteOptions(include_header=False),
                )
                copy.write(buffer.getvalue())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("vacuum analyze bench_responses")
    pg_load = time.perf_counter() - started
    # Iceberg: the silver responses table, written with pyarrow in one snapshot.
    started = time.perf_counter()
    catalog = load_catalog(settings)
    table = ensure_silver_table(catalog, settings, "responses")
    tx = table.transaction()
    append = tx.update_snapshot().fast_append()
    counter = itertools.count(0)
    schema = tx.table_metadata.schema().as_arrow()
    # One write of all rows: one file per day partition, the layout the silver step produces for
    # a large group (and compaction would produce): ~30 files of ~330k rows.
    everything = pa.concat_tables([c.select(schema.names).cast(schema) for c in chunks])
    append_arrow(append, tx.table_metadata, table.io, everything, counter)
    append.commit()
    tx.commit_transaction()
    return {"pg_load_seconds": pg_load, "iceberg_load_seconds": time.perf_counter() - started}


def bench_query(settings: Settings, repeat: int) -> dict[str, float]:
    """Warm both engines once, then alternate DuckDB and PostgreSQL runs (the machine is shared:
    alternating spreads background noise over both sides alike)."""
    table = load_catalog(settings).load_table(f"{settings.lake_namespace}.responses")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("checkpoint")  # the 10M-row load's dirty buffers are not the query's cost
    time.sleep(2)
    con = open_session(settings)
    source = f"iceberg_scan('{scan_location(table.metadata_location)}')"
    duck_sql = FACILITY_SQL.format(source=source)
    pg_sql = FACILITY_SQL.format(source="bench_responses")
    duck: list[float] = []
    pg: list[float] = []
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            duck_rows = con.execute(duck_sql).fetchall()  # warm-up (metadata, S3 connections)
            pg_rows = conn.execute(pg_sql).fetchall()  # warm-up (buffer cache)
            for _ in range(repeat):
                duck.append(timed(lambda: con.execute(duck_sql).fetchall()))
                pg.append(timed(lambda: conn.execute(pg_sql).fetchall()))
            workers = conn.execute("show max_parallel_workers_per_gather").fetchone()
        count = con.execute(f"select count(*) from {source}").fetchone()
    finally:
        con.close()
    assert len(duck_rows) == len(pg_rows)
    assert sum(r[1] for r in duck_rows) == sum(r[1] for r in pg_rows)
    return {
        "rows": float(count[0]) if count else 0.0,
        "files": float(table.inspect.files().num_rows),
        "items": len(duck_rows),
        "duck_best": min(duck),
        "duck_median": statistics.median(duck),
        "pg_best": min(pg),
        "pg_median": statistics.median(pg),
        "pg_parallel_workers": float(workers[0]) if workers else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--responses", type=int, default=10_000_000)
    parser.add_argument("--baseline-sample", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = Settings.load()
    if not base.pseudonym_key:
        raise SystemExit("no DREAMSEED_PSEUDONYM_KEY: run `dreamseed up` first")
    settings, admin, name = scratch(base)
    print(f"scratch database {name}, lake namespace {settings.lake_namespace}")
    try:
        ing = bench_ingest(settings, args.events, args.baseline_sample)
        print(
            f"\n[ingest] {ing['events']:,.0f} outbox events -> bronze in {ing['ingest_seconds']:.2f}s"
            f" = {ing['ingest_rate']:,.0f} events/s (goal >= 50,000)"
        )
        print(
            f"[silver] bronze -> responses in {ing['silver_seconds']:.2f}s"
            f" = {ing['silver_rate']:,.0f} events/s"
        )
        print(
            "[baseline: pyiceberg append per event] "
            f"{ing['baseline_per_event_ms']:.1f} ms/event over {ing['baseline_sample']:.0f} events"
            f" = {ing['baseline_rate']:,.1f} events/s (extrapolated)"
        )
        print(
            f"[ratio] batched ingest / per-event appends = {ing['ingest_rate'] / ing['baseline_rate']:,.0f}x"
        )

        # The query data lives in its own namespace (the ingest above filled `responses` too).
        settings = replace(settings, lake_namespace=settings.lake_namespace + "_query")
        loads = load_responses(settings, args.responses)
        print(
            f"\n[load] {args.responses:,} responses: PostgreSQL COPY {loads['pg_load_seconds']:.1f}s,"
            f" Iceberg (pyarrow) {loads['iceberg_load_seconds']:.1f}s"
        )
        q = bench_query(settings, args.repeat)
        print(
            f"[query] per-item facility over {q['rows']:,.0f} responses ({q['items']:.0f} items),"
            f" {q['files']:.0f} data files, {args.repeat} warm runs each, alternating"
        )
        print(f"  DuckDB over Iceberg: best {q['duck_best']:.3f}s, median {q['duck_median']:.3f}s")
        print(
            f"  PostgreSQL (max_parallel_workers_per_gather={q['pg_parallel_workers']:.0f}):"
            f" best {q['pg_best']:.3f}s, median {q['pg_median']:.3f}s"
        )
        print(
            f"[ratio] PostgreSQL / DuckDB-over-Iceberg = {q['pg_median'] / q['duck_median']:.1f}x"
            f" median, {q['pg_best'] / q['duck_best']:.1f}x best (goal >= 10x)"
        )
    finally:
        catalog = load_catalog(settings)
        for namespace in {settings.lake_namespace, settings.lake_namespace.removesuffix("_query")}:
            for ident in catalog.list_tables(namespace):
                catalog.purge_table(ident)
            catalog.drop_namespace(namespace)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
