"""Governed DuckDB sessions: the analyst's SQL door over the lake and the OLTP tables.

The session holds only *governed tables*: each exposed table is materialized once, when the
session opens, as ``CREATE TABLE <name> AS SELECT <masked columns> FROM <raw> WHERE <row filter>``.
Then every raw source is dropped and the session is locked:

- the pseudonymisation key is a bound parameter (``$1``) of that statement, never a literal in a
  view or macro definition (``duckdb_views()``/``duckdb_functions()`` show nothing secret, and a
  table's stored SQL is only its column list);
- the raw Iceberg views, the registered Arrow sources and the S3 secret are dropped;
- ``enable_external_access=false`` (no file, S3, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD``),
  ``python_enable_replacements=false`` (no scanning of Python objects), then
  ``lock_configuration=true`` (no ``SET``/``RESET`` can undo any of it).

What is exposed and how each table is masked is decided by the caller (the policy lives in
``governance``; this library only executes a :class:`TablePlan`). Names: lake tables are
``lake.<table>`` (also reachable unqualified, e.g. ``outbox_events``, through plain views);
PostgreSQL tables keep their ``<schema>.<table>`` name (``users.accounts``). PostgreSQL rows are
read with psycopg, only the columns the plan reads, so dropped and redacted columns never
enter the session.

Trade-off: materializing copies the governed rows into memory when the session opens. That
suits an analyst session over a school's lake; a very large lake would need pushdown of the
row filter into the scan (the plan's ``where`` already has that shape).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from core.settings import Settings
from lake.duck import create_views, open_session

__all__ = [
    "KEY_PARAMETER",
    "LAKE_SCHEMA",
    "POSTGRES_SCHEMAS",
    "GovernedSession",
    "SourceTable",
    "TablePlan",
    "canonical_table",
    "referenced_tables",
]

#: The placeholder standing for the pseudonymisation key in a plan's select expressions.
KEY_PARAMETER: Final = "$1"
LAKE_SCHEMA: Final = "lake"
#: PostgreSQL schemas whose tables the door may expose (each still needs the policy's consent).
POSTGRES_SCHEMAS: Final = (
    "users",
    "classes",
    "content",
    "exams",
    "governance",
    "analytics",
)
_RAW: Final = "__dreamseed_raw"
_SOURCE: Final = "__dreamseed_source"

# information_schema data_type -> Arrow type; anything else is read as text.
_PG_TYPES: Final[dict[str, pa.DataType]] = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "character varying": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
}


@dataclass(frozen=True, slots=True)
class SourceTable:
    """A table the door can expose: its policy name and its raw columns."""

    name: str  # "users.accounts", "lake.outbox_events"
    columns: tuple[str, ...]
    kind: str  # "postgres" | "lake"
    pg_types: tuple[str, ...] = ()  # information_schema data types (postgres only)


@dataclass(frozen=True, slots=True)
class TablePlan:
    """How to expose one table, as decided by the policy.

    ``select``: the select expressions over the raw columns (``$1`` is the pseudonymisation
    key); ``where``: the row predicate; ``reads``: the raw columns the expressions and the
    predicate use (only these are read from PostgreSQL)."""

    select: tuple[str, ...]
    where: str
    reads: tuple[str, ...]

    @property
    def needs_key(self) -> bool:
        return any(KEY_PARAMETER in expr for expr in self.select)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relation(name: str) -> str:
    return ".".join(_ident(part) for part in name.split("."))


def canonical_table(name: str) -> str | None:
    """The policy name of a relation as written in a query, or None when it is not exposable:
    ``outbox_events``/``main.outbox_events``/``lake.outbox_events`` -> ``lake.outbox_events``,
    ``users.accounts`` -> ``users.accounts``; lake tables are recognised by the caller's list."""
    parts = [p.strip('"').lower() for p in name.split(".")]
    if len(parts) == 3:  # catalog.schema.table
        parts = parts[1:]
    if len(parts) == 1:
        return f"{LAKE_SCHEMA}.{parts[0]}"
    if parts[0] == "main":
        return f"{LAKE_SCHEMA}.{parts[1]}"
    if parts[0] == LAKE_SCHEMA or parts[0] in POSTGRES_SCHEMAS:
        return f"{parts[0]}.{parts[1]}"
    return None


def _base_tables(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            schema = node.get("schema_name") or ""
            out.add(f"{schema}.{node['table_name']}" if schema else str(node["table_name"]))
        for value in node.values():
            _base_tables(value, out)
    elif isinstance(node, list):
        for value in node:
            _base_tables(value, out)


def referenced_tables(query: str) -> set[str] | None:
    """Policy names of the relations ``query`` reads, from DuckDB's parse tree (no binding);
    lake names are not yet checked against the lake. None when the statement cannot be
    analysed (not a SELECT, or a syntax error): the caller then governs every table."""
    con = duckdb.connect(":memory:")
    try:
        row = con.execute("select json_serialize_sql($1)", [query]).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        return None
    names: set[str] = set()
    _base_tables(tree.get("statements"), names)
    out = {canonical_table(n) for n in names}
    return {n for n in out if n is not None}


def postgres_sources(settings: Settings, names: Iterable[str] | None = None) -> list[SourceTable]:
    """The existing tables of the exposable PostgreSQL schemas (or only ``names``)."""
    wanted = set(names) if names is not None else None
    with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "select table_schema, table_name, column_name, data_type"
            " from information_schema.columns where table_schema = any(%s)"
            " order by table_schema, table_name, ordinal_position",
            (list(POSTGRES_SCHEMAS),),
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        name = f"{schema}.{table}"
        if wanted is None or name in wanted:
            tables.setdefault(name, []).append((str(column), str(data_type)))
    return [
        SourceTable(
            name,
            tuple(c for c, _ in cols),
            "postgres",
            tuple(t for _, t in cols),
        )
        for name, cols in sorted(tables.items())
    ]


def _arrow_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


class GovernedSession:
    """Open (raw sources discovered) -> :meth:`materialize` (plans executed) -> locked.

    Usage::

        session = GovernedSession.open(settings, wanted={"users.accounts"})
        plans = {s.name: plan_for(s) for s in session.sources.values()}  # the policy decides
        con = session.materialize(plans, key=settings.pseudonym_key)
    """

    def __init__(
        self,
        settings: Settings,
        con: duckdb.DuckDBPyConnection,
        sources: dict[str, SourceTable],
    ) -> None:
        self._settings = settings
        self._con = con
        self.sources = sources
        self.locked = False

    @classmethod
    def open(cls, settings: Settings, wanted: Collection[str] | None = None) -> GovernedSession:
        """A session with the raw sources of ``wanted`` (policy names; None = every table)
        discovered but nothing exposed yet. The caller decides the plans, then materializes."""
        lake_wanted = wanted is None or any(n.startswith(f"{LAKE_SCHEMA}.") for n in wanted)
        pg_wanted = None if wanted is None else [n for n in wanted if not n.startswith("lake.")]
        con = open_session(settings)
        try:
            sources: dict[str, SourceTable] = {}
            if lake_wanted:
                con.execute(f"create schema {_ident(_RAW)}")
                con.execute(f"set schema = '{_RAW}'")
                try:
                    views = create_views(con, settings)
                finally:
                    con.execute("set schema = 'main'")
                for view in views:
                    name = f"{LAKE_SCHEMA}.{view.name}"
                    if wanted is not None and name not in wanted:
                        continue
                    described = con.execute(
                        f"select * from {_ident(_RAW)}.{_ident(view.name)} limit 0"
                    ).description
                    sources[name] = SourceTable(name, tuple(d[0] for d in described or ()), "lake")
            if pg_wanted is None or pg_wanted:
                for source in postgres_sources(settings, pg_wanted):
                    sources[source.name] = source
        except Exception:
            con.close()
            raise
        return cls(settings, con, sources)

    def materialize(
        self, plans: Mapping[str, TablePlan], *, key: str | None
    ) -> duckdb.DuckDBPyConnection:
        """Create one governed table per plan, drop every raw source and lock the session.

        A plan needing the key when ``key`` is empty raises ``ValueError`` (fail closed)."""
        con = self._con
        try:
            for name in sorted(plans):
                plan = plans[name]
                source = self.sources[name]
                if plan.needs_key and not key:
                    raise ValueError(
                        f"{name}: pseudonymisation needs DREAMSEED_PSEUDONYM_KEY, which is empty"
                    )
                params = [key] if plan.needs_key else []
                schema, table = name.split(".", 1)
                con.execute(f"create schema if not exists {_ident(schema)}")
                if source.kind == "postgres":
                    self._register_postgres(source, plan.reads)
                    raw = _ident(_SOURCE)
                else:
                    raw = f"{_ident(_RAW)}.{_ident(table)}"
                con.execute(
                    f"create table {_relation(name)} as select {', '.join(plan.select)}"
                    f" from {raw} where {plan.where}",
                    params,
                )
                if source.kind == "postgres":
                    con.unregister(_SOURCE)
                else:
                    con.execute(
                        f"create view main.{_ident(table)} as select * from {_relation(name)}"
                    )
            self._lock()
        except Exception:
            con.close()
            raise
        return con

    def _register_postgres(self, source: SourceTable, reads: Sequence[str]) -> None:
        types = dict(zip(source.columns, source.pg_types, strict=True))
        columns = [c for c in source.columns if c in set(reads)]
        schema, table = source.name.split(".", 1)
        exprs = [
            sql.Identifier(c)
            if types[c] in _PG_TYPES
            else sql.SQL("{}::text").format(sql.Identifier(c))
            for c in columns
        ]
        query = sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(exprs) if exprs else sql.SQL("1 as __one"),
            sql.Identifier(schema, table),
        )
        with psycopg.connect(self._settings.database_url, connect_timeout=5) as conn:
            rows = conn.execute(query).fetchall()
        if not columns:
            arrow = pa.table({"__one": pa.array([1] * len(rows), pa.int8())})
        else:
            arrow = pa.table(
                {
                    c: pa.array(
                        [_arrow_value(r[i]) for r in rows],
                        type=_PG_TYPES.get(types[c], pa.string()),
                    )
                    for i, c in enumerate(columns)
                }
            )
        self._con.register(_SOURCE, arrow)

    def _lock(self) -> None:
        con = self._con
        con.execute(f"drop schema if exists {_ident(_RAW)} cascade")
        temporary = con.execute(
            "select view_name from duckdb_views() where temporary and not internal"
        ).fetchall()
        for (view_name,) in temporary:  # Arrow sources registered by lake.duck.create_views
            con.unregister(str(view_name))
        con.execute("drop secret if exists dreamseed_lake")
        con.execute("set python_enable_replacements = false")
        con.execute("set autoload_known_extensions = false")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        self.locked = True

    def close(self) -> None:
        self._con.close()
