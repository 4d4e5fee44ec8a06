"""Where a person still shows, searched store by store without the inventory's help (so a table
the inventory forgot still fails): every PostgreSQL table's rows as text, every Redis key and
stream entry, every object of the namespace in the bucket, and every row of every snapshot still
readable in every Iceberg table of the namespace (plus every Parquet file left on disk)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import psycopg
import pyarrow.parquet as pq
import redis
from psycopg import sql

from core.media import MediaStore
from core.settings import Settings
from lake.catalog import load_catalog
from privacy.objects import Objects


def postgres_traces(settings: Settings, needles: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with psycopg.connect(settings.database_url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
            " and table_schema not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            for needle in needles:
                query = sql.SQL("select count(*) from {} t where strpos(t::text, %s) > 0").format(
                    sql.Identifier(schema, table)
                )
                row = conn.execute(query, (needle,)).fetchone()
                if row and row[0]:
                    found[f"{schema}.{table} ({needle[:12]})"] = int(row[0])
    return found


def redis_traces(settings: Settings, needles: Sequence[str]) -> list[str]:
    client = redis.Redis.from_url(settings.redis_url)
    found = []
    for raw in client.scan_iter(count=1000):
        key = raw.decode(errors="replace")
        if any(n in key for n in needles):
            found.append(key)
            continue
        if client.type(raw) == b"stream":
            for entry_id, fields in client.xrange(raw):
                if any(n.encode() in v for v in fields.values() for n in needles):
                    found.append(f"{key} {entry_id.decode()}")
    return found


def s3_traces(settings: Settings, needles: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Objects whose key holds a needle, plus the named objects (her uploads) if still there."""
    store = MediaStore(settings)
    objects = Objects(settings)
    found = [k for k in keys if k and store.exists(k)]
    for prefix in (store.prefix, f"privacy/{settings.lake_namespace}/"):
        found += [k for k in objects.keys(prefix) if any(n in k for n in needles)]
    return found


def _cells(rows: list[dict[str, Any]], needles: Sequence[str]) -> int:
    text = [json.dumps(r, default=str) for r in rows]
    return sum(1 for t in text if any(n in t for n in needles))


def lake_traces(settings: Settings, needles: Sequence[str]) -> dict[str, int]:
    """Rows holding a needle in any snapshot still readable, and in any Parquet file left."""
    catalog = load_catalog(settings, create_namespace=False)
    objects = Objects(settings)
    found: dict[str, int] = {}
    for ident in catalog.list_tables(settings.lake_namespace):
        table = catalog.load_table(ident)
        name = ident[-1]
        for snapshot in table.metadata.snapshots:
            rows = table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().to_pylist()
            hits = _cells(rows, needles)
            if hits:
                found[f"{name}@{snapshot.snapshot_id}"] = hits
        for uri in objects.list_uri(table.location()):
            if uri.endswith(".parquet"):
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                body = objects.client.get_object(bucket, key).read()
                hits = _cells(pq.read_table(io.BytesIO(body)).to_pylist(), needles)
                if hits:
                    found[f"{name} file {uri.rsplit('/', 1)[-1]}"] = hits
    return found
