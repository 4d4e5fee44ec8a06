"""A subject's rows in PostgreSQL, found and erased from the inventory alone.

Every `postgres` entry of `governance/data/inventory.json` names its `subject_columns`: a column
holding the person's id (uuid, text, an array of ids, or a JSON document that embeds the id), or a
path through another table (`attempt_id -> exams.attempts.student_id`). The SQL here is derived
from those entries and the columns' types in the catalog, so a table the inventory gains is
exported and erased without code changes.

Erasure follows each entry's `on_erasure`: `delete` removes the rows; `sever` points identity
columns at a tombstone account (a new random id with no e-mail or name, so foreign keys hold and
learning rows still count), clears free text and replaces the id inside JSON documents.

A subject column named `*_key` holds a pseudonym (HMAC of the id, `lake.pseudonym`), as in the
lake: the lake's tables copied into PostgreSQL (`lake_silver.*`, for dbt). Her rows there are those
equal to her key (`keys.subject`); erasure (`rewrite`, as in the lake) replaces it by the
tombstone's key (`keys.tombstone`), so the copy agrees with the rewritten lake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from governance.inventory import NOT_PERSONAL

CREDENTIAL = "credential"
PSEUDONYM_SUFFIX = "_key"
FREE_TEXT = ("free_text", "free_text_to_model")
ACCOUNTS = "users.accounts"


@dataclass(frozen=True, slots=True)
class Subject:
    """The person a request is about (clear values, held only while the request runs)."""

    user_id: str
    email: str | None
    display_name: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class Keys:
    """Pseudonyms (lake.pseudonym) of the subject's id and of her tombstone's id."""

    subject: str
    tombstone: str | None = None


def is_pseudonym(column: str) -> bool:
    return column.endswith(PSEUDONYM_SUFFIX)


def is_pseudonym_list(column: str) -> bool:
    """A list of pseudonyms (`student_keys`: an assignment's listed students)."""
    return column.endswith(PSEUDONYM_SUFFIX + "s")


def find_subject(conn: psycopg.Connection[Any], user_id: str) -> Subject:
    row = conn.execute(
        "select email, display_name, role from users.accounts where user_id::text = %s",
        (user_id,),
    ).fetchone()
    if row is None:
        return Subject(user_id, None, None, None)
    return Subject(user_id, row[0], row[1], row[2])


def column_types(conn: psycopg.Connection[Any]) -> dict[str, dict[str, str]]:
    """schema.table -> column -> PostgreSQL type ('uuid', 'text', 'jsonb', 'ARRAY', …); a
    NOT NULL column's type is marked with a trailing '!'."""
    rows = conn.execute(
        "select table_schema || '.' || table_name, column_name, data_type, is_nullable, udt_name"
        " from information_schema.columns"
        " where table_schema not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    types: dict[str, dict[str, str]] = {}
    for table, column, kind, nullable, udt in rows:
        if kind == "ARRAY":  # 'ARRAY:uuid', 'ARRAY:text': the element type for casts
            kind = f"ARRAY:{str(udt).lstrip('_')}"
        types.setdefault(table, {})[column] = kind if nullable == "YES" else kind + "!"
    return types


def _base(kind: str) -> str:
    return kind.rstrip("!")


def _table(name: str) -> sql.Composable:
    schema, table = name.split(".", 1)
    return sql.Identifier(schema, table)


def _direct(column: str, kind: str, user_id: str) -> tuple[sql.Composable, list[Any]]:
    col = sql.Identifier(column)
    if kind.startswith("ARRAY"):  # an element equal to, or embedding, the id
        query = sql.SQL("strpos(array_to_string({}::text[], ' '), {}) > 0")
        return query.format(col, sql.Placeholder()), [user_id]
    if kind in ("json", "jsonb"):
        # The id embedded anywhere in the document (ids are UUIDs: no false positives).
        return sql.SQL("strpos({}::text, {}) > 0").format(col, sql.Placeholder()), [user_id]
    return sql.SQL("{}::text = {}").format(col, sql.Placeholder()), [user_id]


def subject_predicate(
    subject_column: str,
    types: Mapping[str, Mapping[str, str]],
    table: str,
    user_id: str,
    keys: Keys | None = None,
) -> tuple[sql.Composable, list[Any]]:
    """SQL that is true for the rows of `table` that `subject_column` ties to `user_id` (a
    pseudonym column: to her key; without `keys`, to nothing)."""
    if is_pseudonym(subject_column):
        if keys is None:
            return sql.SQL("false"), []
        return sql.SQL("{} = {}").format(sql.Identifier(subject_column), sql.Placeholder()), [
            keys.subject
        ]
    if is_pseudonym_list(subject_column):
        if keys is None:
            return sql.SQL("false"), []
        query = sql.SQL("{} = any({})").format(sql.Placeholder(), sql.Identifier(subject_column))
        return query, [keys.subject]
    if " -> " not in subject_column:
        return _direct(subject_column, _base(types[table][subject_column]), user_id)
    local, target = subject_column.split(" -> ", 1)
    schema, other, column = target.split(".")
    inner, params = _direct(column, _base(types[f"{schema}.{other}"][column]), user_id)
    query = sql.SQL("{} in (select {} from {} where {})").format(
        sql.Identifier(local), sql.Identifier(local), _table(f"{schema}.{other}"), inner
    )
    return query, params


def any_subject(
    entry: Mapping[str, Any],
    types: Mapping[str, Mapping[str, str]],
    table: str,
    user_id: str,
    keys: Keys | None = None,
) -> tuple[sql.Composable, list[Any]]:
    parts, params = [], []
    for column in entry["subject_columns"]:
        part, more = subject_predicate(column, types, table, user_id, keys)
        parts.append(sql.SQL("({})").format(part))
        params += more
    return sql.SQL(" or ").join(parts), params


def personal_tables(inventory: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Inventory entries that can hold a person's rows (they name subject columns)."""
    return {n: e for n, e in inventory["postgres"].items() if e.get("subject_columns")}


def export_rows(
    conn: psycopg.Connection[Any],
    inventory: Mapping[str, Any],
    user_id: str,
    keys: Keys | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every row the inventory ties to the subject, per table, credentials left out (rows under
    her pseudonym only when `keys` are given)."""
    types = column_types(conn)
    found: dict[str, list[dict[str, Any]]] = {}
    for table, entry in personal_tables(inventory).items():
        if table not in types:
            continue  # a table of a migration this database has not applied yet
        columns = [c for c, kind in entry["columns"].items() if kind != CREDENTIAL]
        where, params = any_subject(entry, types, table, user_id, keys)
        query = sql.SQL("select {} from {} where {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), _table(table), where
        )
        cursor = conn.execute(query, params)
        found[table] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return found


def _sever_assignments(
    entry: Mapping[str, Any],
    types: Mapping[str, str],
    subject: Subject,
    tombstone: str,
    keys: Keys | None = None,
) -> tuple[list[sql.Composable], list[Any]]:
    """SET clauses: identity subject columns -> tombstone, free text -> NULL, ids in JSON
    documents and arrays replaced, her pseudonym -> the tombstone's."""
    sets: list[sql.Composable] = []
    params: list[Any] = []
    direct = {c for c in entry["subject_columns"] if " -> " not in c}
    for column, kind in entry["columns"].items():
        col = sql.Identifier(column)
        kind_of = _base(types[column])
        if column in direct and is_pseudonym(column):
            if keys is not None and keys.tombstone is not None:
                sets.append(
                    sql.SQL("{} = case when {} = {} then {} else {} end").format(
                        col, col, sql.Placeholder(), sql.Placeholder(), col
                    )
                )
                params += [keys.subject, keys.tombstone]
        elif column in direct and is_pseudonym_list(column):
            if keys is not None and keys.tombstone is not None:
                sets.append(
                    sql.SQL("{} = array_replace({}, {}, {})").format(
                        col, col, sql.Placeholder(), sql.Placeholder()
                    )
                )
                params += [keys.subject, keys.tombstone]
        elif kind in FREE_TEXT:
            # Cleared; a NOT NULL text column keeps a placeholder instead.
            cleared = sql.SQL("'erased'") if types[column].endswith("!") else sql.SQL("null")
            sets.append(sql.SQL("{} = {}").format(col, cleared))
        elif column in direct and kind_of.startswith("ARRAY"):
            element = kind_of.split(":", 1)[1]
            sets.append(
                sql.SQL(
                    "{} = (select array_agg(replace(x::text, {}, {}) order by o)"
                    " from unnest({}) with ordinality as u(x, o))::{}[]"
                ).format(col, sql.Placeholder(), sql.Placeholder(), col, sql.SQL(element))
            )
            params += [subject.user_id, tombstone]
        elif column in direct and kind_of in ("json", "jsonb"):
            text = sql.SQL("replace({}::text, {}, {})").format(
                col, sql.Placeholder(), sql.Placeholder()
            )
            params += [subject.user_id, tombstone]
            for value in (subject.email, subject.display_name):
                if value and len(value) > 3:  # a one-letter name would mangle the document
                    text = sql.SQL("replace({}, {}, {})").format(
                        text, sql.Placeholder(), sql.Placeholder()
                    )
                    params += [_json_text(value), _json_text("erased")]
            sets.append(sql.SQL("{} = ({})::{}").format(col, text, sql.SQL(kind_of)))
        elif kind in ("identity", "contact") and kind_of in ("text", "character varying"):
            # text that may embed the id (an xAPI actor IFI): replaced wherever it appears
            sets.append(
                sql.SQL("{} = replace({}, {}, {})").format(
                    col, col, sql.Placeholder(), sql.Placeholder()
                )
            )
            params += [subject.user_id, tombstone]
        elif column in direct and kind != NOT_PERSONAL:
            sets.append(
                sql.SQL("{} = case when {}::text = {} then {} else {} end").format(
                    col, col, sql.Placeholder(), _cast(tombstone, kind_of), col
                )
            )
            params += [subject.user_id]
    return sets, params


def _json_text(value: str) -> str:
    """The value as it appears inside JSON text (quoted), so only whole values are replaced."""
    import json

    return json.dumps(value)


def _cast(value: str, kind: str) -> sql.Composable:
    return sql.SQL("{}::{}").format(sql.Literal(value), sql.SQL(kind))


@dataclass(frozen=True, slots=True)
class TableErasure:
    table: str
    action: str
    rows: int


def make_tombstone(conn: psycopg.Connection[Any], subject: Subject, tombstone: str) -> None:
    """An account row with a new random id and no e-mail or name, so severed rows keep their
    foreign keys; it cannot sign in (no password, deactivated)."""
    conn.execute(
        "insert into users.accounts (user_id, email, display_name, role, password_hash,"
        " deactivated_at) values (%s, %s, 'erased', %s, '!', now()) on conflict do nothing",
        (tombstone, f"erased-{tombstone}@erased.invalid", subject.role or "student"),
    )


def erase_rows(
    conn: psycopg.Connection[Any],
    inventory: Mapping[str, Any],
    subject: Subject,
    tombstone: str,
    *,
    skip: Sequence[str] = (),
    keys: Keys | None = None,
) -> list[TableErasure]:
    """Apply every table's `on_erasure` to the subject's rows (in the caller's transaction).
    `users.accounts` goes last: severed rows point at the tombstone first. Rows under her
    pseudonym are rewritten only when `keys` (hers and the tombstone's) are given."""
    types = column_types(conn)
    if subject.role is not None:
        make_tombstone(conn, subject, tombstone)
    tables = personal_tables(inventory)
    order = [t for t in tables if t != ACCOUNTS] + ([ACCOUNTS] if ACCOUNTS in tables else [])
    done = []
    for table in order:
        if table not in types or table in skip:
            continue
        entry = tables[table]
        where, where_params = any_subject(entry, types, table, subject.user_id, keys)
        if entry["on_erasure"] == "delete":
            query = sql.SQL("delete from {} where {}").format(_table(table), where)
            rows = conn.execute(query, where_params).rowcount
        else:
            sets, set_params = _sever_assignments(entry, types[table], subject, tombstone, keys)
            if not sets:
                continue
            query = sql.SQL("update {} set {} where {}").format(
                _table(table), sql.SQL(", ").join(sets), where
            )
            rows = conn.execute(query, set_params + where_params).rowcount
        done.append(TableErasure(table, entry["on_erasure"], rows))
    return done


def remaining_rows(
    conn: psycopg.Connection[Any],
    inventory: Mapping[str, Any],
    user_id: str,
    keys: Keys | None = None,
) -> dict[str, int]:
    """Tables that still hold rows tied to `user_id` (empty after an erasure)."""
    found = export_rows(conn, inventory, user_id, keys)
    return {t: len(rows) for t, rows in found.items() if rows}
