"""DuckDB sessions over the lake: the analyst's SQL door and the engine for heavy drill-downs.

DuckDB cannot download extensions here (and should not at run time anywhere), so httpfs, avro and
iceberg are loaded from the `duckdb-extension-*` wheels by file path; autoinstall is off. DuckDB
cannot attach pyiceberg's SQL catalog, so every Iceberg table of the namespace becomes a view over
`iceberg_scan('<current metadata file>')`, resolved through our catalog when the session opens (a
session sees the lake as of its start).

Governance seam: `create_views(..., column_expressions={view: {column: sql_expr}})` replaces a
column by an expression (e.g. a masking function) in that view; derived views are built on top of
the base views, so a mask on `outbox_events.payload` also covers `attempts_completed`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError

from core.settings import Settings
from lake.catalog import load_catalog
from lake.storage import s3_endpoint
from lake.tables import OUTBOX_EVENTS_DEF

EXTENSIONS = ("httpfs", "avro", "iceberg")

ATTEMPT_COMPLETED = "exams.attempt.completed.v1"

# Convenience views over the bronze tables: name -> (SQL over base views, the tables it needs).
DERIVED_VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "attempts_completed": (
        f"""
        select
            json_extract_string(payload, '$.attempt_id') as attempt_id,
            json_extract_string(payload, '$.exam_id') as exam_id,
            json_extract_string(payload, '$.student_id') as student_id,
            json_extract_string(payload, '$.class_id') as class_id,
            cast(json_extract(payload, '$.raw_score') as integer) as raw_score,
            cast(json_extract(payload, '$.max_score') as integer) as max_score,
            cast(json_extract_string(payload, '$.started_at') as timestamptz) as started_at,
            cast(json_extract_string(payload, '$.completed_at') as timestamptz) as completed_at,
            event_id,
            event_seq,
            occurred_at
        from outbox_events
        where event_type = '{ATTEMPT_COMPLETED}'
        """,
        ("outbox_events",),
    ),
}

ColumnExpressions = Mapping[str, Mapping[str, str]]


def extension_path(name: str, version: str | None = None) -> Path:
    """The `.duckdb_extension` binary shipped by the `duckdb-extension-<name>` wheel."""
    module = importlib.import_module(f"duckdb_extension_{name}")
    base = Path(next(iter(module.__path__)))
    wanted = version or f"v{duckdb.__version__}"
    path = base / "extensions" / wanted / f"{name}.duckdb_extension"
    if not path.is_file():
        raise FileNotFoundError(
            f"DuckDB extension {name} for {wanted} not found at {path}; install "
            f"duckdb-extension-{name}=={duckdb.__version__.lstrip('v')}"
        )
    return path


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scan_location(metadata_location: str) -> str:
    return metadata_location.removeprefix("file://")


def open_session(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the extensions and the S3 secret, but no views."""
    home = settings.state_dir / "duckdb"
    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": True,
            "extension_directory": str(home / "extensions"),
            "home_directory": str(home),
        },
    )
    version = con.execute("pragma version").fetchone()
    for name in EXTENSIONS:
        path = extension_path(name, str(version[0]) if version else None)
        con.execute(f"load {_quote_literal(str(path))}")
    if settings.uses_s3:
        endpoint = s3_endpoint(settings)
        con.execute(
            "create or replace secret dreamseed_lake (type s3, "
            f"key_id {_quote_literal(settings.s3_access_key)}, "
            f"secret {_quote_literal(settings.s3_secret_key)}, "
            f"endpoint {_quote_literal(endpoint.host_port)}, "
            f"region {_quote_literal(settings.s3_region)}, "
            f"url_style 'path', use_ssl {'true' if endpoint.use_ssl else 'false'})"
        )
    return con


def _projection(columns: Sequence[str], expressions: Mapping[str, str]) -> str:
    return ", ".join(
        f"{expressions[c]} as {_quote_ident(c)}" if c in expressions else _quote_ident(c)
        for c in columns
    )


@dataclass(frozen=True, slots=True)
class ViewInfo:
    name: str
    source: str  # the metadata file scanned, or "derived"


def create_views(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    column_expressions: ColumnExpressions | None = None,
) -> list[ViewInfo]:
    """Create one view per Iceberg table of `settings.lake_namespace`, then the derived views.

    A table without a snapshot yet becomes an empty view with the table's columns.
    """
    expressions = column_expressions or {}
    catalog = load_catalog(settings, create_namespace=False)
    created: list[ViewInfo] = []
    try:
        idents = catalog.list_tables(settings.lake_namespace)
    except NoSuchNamespaceError:
        idents = []
    for ident in idents:
        name = ident[-1]
        table = catalog.load_table(ident)
        columns = [f.name for f in table.schema().fields]
        if table.current_snapshot() is None:
            empty: pa.Table = table.schema().as_arrow().empty_table()
            con.register(f"__empty_{name}", empty)
            source = _quote_ident(f"__empty_{name}")
            origin = "empty"
        else:
            origin = table.metadata_location
            source = f"iceberg_scan({_quote_literal(scan_location(origin))})"
        con.execute(
            f"create or replace view {_quote_ident(name)} as "
            f"select {_projection(columns, expressions.get(name, {}))} from {source}"
        )
        created.append(ViewInfo(name, origin))
    have = {v.name for v in created}
    if OUTBOX_EVENTS_DEF.name not in have:
        empty = OUTBOX_EVENTS_DEF.arrow_schema().empty_table()
        con.register("__empty_outbox_events", empty)
        con.execute(
            "create or replace view outbox_events as select "
            f"{_projection(empty.column_names, expressions.get('outbox_events', {}))} "
            'from "__empty_outbox_events"'
        )
        created.append(ViewInfo(OUTBOX_EVENTS_DEF.name, "empty"))
        have.add(OUTBOX_EVENTS_DEF.name)
    for name, (sql, needs) in DERIVED_VIEWS.items():
        if not set(needs) <= have:
            continue
        inner = f"create or replace view {_quote_ident(name)} as {sql}"
        wanted = expressions.get(name)
        if wanted:
            cols = [d[0] for d in con.sql(sql).limit(0).description]
            inner = (
                f"create or replace view {_quote_ident(name)} as "
                f"select {_projection(cols, wanted)} from ({sql})"
            )
        con.execute(inner)
        created.append(ViewInfo(name, "derived"))
    return created


def connect(
    settings: Settings, *, column_expressions: ColumnExpressions | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's extensions, S3 secret and views."""
    con = open_session(settings)
    try:
        create_views(con, settings, column_expressions=column_expressions)
    except Exception:
        con.close()
        raise
    return con


def run_sql(
    settings: Settings,
    sql: str,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement; return its column names and rows (no columns for statements)."""
    own = con is None
    session = connect(settings) if con is None else con
    try:
        cursor = session.execute(sql)
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        return columns, [tuple(r) for r in cursor.fetchall()]
    finally:
        if own:
            session.close()
