"""`dreamseed sql`: the analyst's SQL door to the lake (DuckDB over the Iceberg tables).

`dreamseed sql "select ..."` prints the result; without a query it reads statements from stdin
(each ended by `;`, like psql) until EOF or `\\q`. Governance (masking, row
filters) plugs in through `lake.duck.connect(settings, column_expressions=...)`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.table import Table

from core.settings import Settings
from lake.duck import connect, run_sql

FORMATS = ("table", "csv", "json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Format a result as an aligned table, CSV or a JSON array of objects."""
    if fmt == "json":
        return json.dumps(
            [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows],
            indent=2,
            default=str,
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_jsonable(v) for v in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return f"{out.rstrip()}\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.load()


def _statements(stream: Any, prompt: bool) -> Iterator[str]:
    """Yield statements from `stream`: lines up to one ending in `;` (or EOF), like psql."""
    buffer: list[str] = []
    while True:
        if prompt:
            click.echo("sql> " if not buffer else "...> ", nl=False, err=True)
        line = stream.readline()
        if not line:
            if buffer:
                yield "\n".join(buffer)
            return
        text = line.rstrip("\n")
        if not buffer and text.strip() in {"\\q", "quit", "exit"}:
            return
        if not text.strip() and not buffer:
            continue
        buffer.append(text)
        if text.rstrip().endswith(";"):
            yield "\n".join(buffer)
            buffer = []


@click.command("sql")
@click.argument("query", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def sql(ctx: click.Context, query: str | None, fmt: str) -> None:
    """Query the lake with DuckDB SQL (views: outbox_events, attempts_completed, ...)."""
    settings = _settings(ctx)
    if query is not None:
        try:
            columns, rows = run_sql(settings, query)
        except duckdb.Error as exc:
            raise click.ClickException(str(exc)) from exc
        if columns:
            click.echo(render(columns, rows, fmt))
        return
    con = connect(settings)
    interactive = sys.stdin.isatty()
    failed = False
    try:
        for statement in _statements(click.get_text_stream("stdin"), interactive):
            try:
                columns, rows = run_sql(settings, statement, con=con)
            except duckdb.Error as exc:
                click.echo(f"error: {exc}", err=True)
                failed = True
                continue
            if columns:
                click.echo(render(columns, rows, fmt))
    finally:
        con.close()
    if failed and not interactive:
        ctx.exit(1)
