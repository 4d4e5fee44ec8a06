"""`dreamseed sql`: the analyst's SQL door to the lake and the OLTP tables, governed.

`dreamseed sql "select ..."` prints the result; without a query it reads statements from stdin
(each ended by `;`, like psql) until EOF or `\\q`.

Every run:
1. authenticates the caller (`cli.login.resolve_subject`: `--token`, `DREAMSEED_TOKEN` or the
   token stored by `dreamseed login`; verified, not revoked, role read from `users.accounts`);
   unauthenticated runs are refused;
2. asks the policy whether the caller may use the door (`sql.query.run`) and, per table the query
   reads (every exposable table in an interactive session), `sql_access`; allowed tables are
   masked (`sql_masking`: pseudonymous keys, redacted names/e-mails for analysts) and filtered
   (`sql_rows`);
3. writes every decision (allowed and denied) to `governance.decisions` before running anything;
   if the log cannot be written, nothing runs;
4. runs the SQL in a locked DuckDB session that holds only the governed tables
   (`lake.governed.GovernedSession`).

Tables: `lake.outbox_events` and `lake.attempts_completed` (also unqualified), and the PostgreSQL
tables by their names (`users.accounts`, `exams.attempts`, ...) as registered in
`governance/data/tables.json`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import duckdb
import psycopg
from rich.console import Console
from rich.table import Table

from cli.context import settings_of
from cli.login import TOKEN_ENV, resolve_subject
from core.settings import Settings
from governance import Decision, PolicyUnavailable, Subject, SyncPolicy, load_engine
from governance.decision_log import write_now
from governance.masking import row_filter_sql, select_expressions
from lake.duck import run_sql
from lake.governed import (
    KEY_PARAMETER,
    POSTGRES_SCHEMAS,
    GovernedSession,
    SourceTable,
    TablePlan,
    referenced_tables,
)

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
    out_buffer = io.StringIO()
    Console(file=out_buffer, width=200, force_terminal=False).print(table)
    out = out_buffer.getvalue()
    return f"{out.rstrip()}\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


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


class Refused(click.ClickException):
    """The door refuses to run the query (denied, policy down, audit log unwritable)."""

    exit_code = 3


def plan_table(engine: SyncPolicy, subject: Subject, source: SourceTable) -> TablePlan | None:
    """The governed projection of one table for `subject` (None when every column is dropped)."""
    treatments = engine.sql_masking(subject, source.name, source.columns)
    rows = engine.sql_rows(subject, source.name)
    for condition in rows.conditions:
        if condition.column not in source.columns:
            raise PolicyUnavailable(
                f"row filter of {source.name} names {condition.column!r}, not a column of it"
            )
    select = select_expressions(source.columns, treatments, key_sql=KEY_PARAMETER)
    if not select:
        return None
    reads = {c for c, t in treatments.items() if t in ("clear", "pseudonymize")}
    reads |= {c.column for c in rows.conditions}
    return TablePlan(tuple(select), row_filter_sql(rows), tuple(sorted(reads)))


@dataclass
class SqlDoor:
    """One governed session for one authenticated subject; every decision is logged first."""

    settings: Settings
    engine: SyncPolicy
    subject: Subject
    request_id: str = field(default_factory=lambda: f"sql-{uuid.uuid4()}")
    withheld: dict[str, str] = field(default_factory=dict)

    def _log(self, decisions: Sequence[Decision]) -> None:
        try:
            write_now(self.settings.database_url, decisions)
        except psycopg.Error as exc:
            raise Refused(
                f"cannot write the policy decision log ({exc}); refusing to run un-audited"
            ) from exc

    def open(self, wanted: Collection[str] | None) -> duckdb.DuckDBPyConnection:
        """The locked session. `wanted`: the tables the query reads (refused if any is denied);
        None: every table the subject may read (interactive sessions)."""
        try:
            door = self.engine.authorize(self.subject, "sql.query.run", request_id=self.request_id)
        except PolicyUnavailable as exc:
            raise Refused(f"policy engine unavailable, query refused: {exc}") from exc
        if not door.allowed:
            self._log([door])
            raise Refused(f"role {self.subject.role} may not use the SQL door ({door.reason})")
        session = GovernedSession.open(self.settings, wanted)
        try:
            names = set(session.sources)
            if wanted is not None:
                # Tables named in the query but absent: asked too, so attempts are audited.
                names |= {n for n in wanted if n.split(".", 1)[0] in POSTGRES_SCHEMAS}
            decisions: list[Decision] = [door]
            plans: dict[str, TablePlan] = {}
            denied: dict[str, str] = {}
            try:
                for name in sorted(names):
                    decision = self.engine.sql_access(
                        self.subject, name, request_id=self.request_id
                    )
                    decisions.append(decision)
                    if not decision.allowed:
                        denied[name] = decision.reason
                        continue
                    source = session.sources.get(name)
                    if source is None:
                        continue
                    plan = plan_table(self.engine, self.subject, source)
                    if plan is None:
                        denied[name] = "every_column_dropped"
                    else:
                        plans[name] = plan
            except (PolicyUnavailable, ValueError) as exc:
                self._log(decisions)
                raise Refused(f"policy engine unavailable, query refused: {exc}") from exc
            self._log(decisions)
            if wanted is not None and denied:
                listed = ", ".join(f"{n} ({r})" for n, r in sorted(denied.items()))
                raise Refused(f"access denied by policy for role {self.subject.role}: {listed}")
            self.withheld = denied
            try:
                return session.materialize(plans, key=self.settings.pseudonym_key or None)
            except ValueError as exc:
                raise Refused(str(exc)) from exc
        except BaseException:
            if not session.locked:
                session.close()
            raise


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
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"Access token (default: ${TOKEN_ENV}, else the one stored by `dreamseed login`).",
)
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every table you may read, already masked and filtered, to a DuckDB database "
    "file that any plain DuckDB shell opens (`duckdb FILE`).",
)
@click.pass_context
def sql(
    ctx: click.Context,
    query: str | None,
    fmt: str,
    token: str | None,
    export_path: Path | None,
) -> None:
    """Query the lake and the OLTP tables with DuckDB SQL, as the policy allows (sign in first
    with `dreamseed login`). Tables: outbox_events, attempts_completed, users.accounts, ..."""
    settings = settings_of(ctx)
    subject = resolve_subject(settings, token)
    engine = SyncPolicy(load_engine(settings.opa_url or None, settings.policy_dir))
    door = SqlDoor(settings, engine, subject)
    try:
        if export_path is not None:
            if query is not None:
                raise click.UsageError("--export takes no query")
            count = export_governed(door, export_path)
            click.echo(
                f"wrote {count} governed table(s) to {export_path}; open it with a plain DuckDB "
                f"shell: duckdb {export_path}"
            )
            return
        if query is not None:
            # The tables the query reads; a statement that cannot be analysed gets every table
            # the subject may read (still governed).
            con = door.open(referenced_tables(query))
            try:
                columns, rows = run_sql(settings, query, con=con)
            except duckdb.Error as exc:
                raise click.ClickException(str(exc)) from exc
            finally:
                con.close()
            if columns:
                click.echo(render(columns, rows, fmt))
            return
        _interactive(ctx, settings, door, fmt)
    finally:
        engine.close()


def export_governed(door: SqlDoor, path: Path) -> int:
    """Copy the subject's governed tables (masks and row filters applied, decisions logged) into
    a new DuckDB file. The file holds only what the policy let this subject see."""
    if path.exists():
        raise click.ClickException(f"{path} exists; choose a new file")
    con = door.open(None)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where not temporary order by 1, 2"
        ).fetchall()
        path.parent.mkdir(parents=True, exist_ok=True)
        out = duckdb.connect(str(path))
        try:
            for schema, table in tables:
                data = con.execute(f'select * from "{schema}"."{table}"').arrow()
                out.execute(f'create schema if not exists "{schema}"')
                out.register("governed_rows", data)
                out.execute(f'create table "{schema}"."{table}" as select * from governed_rows')
                out.unregister("governed_rows")
        finally:
            out.close()
    finally:
        con.close()
    path.chmod(0o600)
    return len(tables)


def _interactive(ctx: click.Context, settings: Settings, door: SqlDoor, fmt: str) -> None:
    con = door.open(None)
    if door.withheld:
        click.echo(
            "withheld by policy: "
            + ", ".join(f"{n} ({r})" for n, r in sorted(door.withheld.items())),
            err=True,
        )
    interactive = sys.stdin.isatty()
    failed = False
    try:
        for statement in _statements(sys.stdin, interactive):
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
