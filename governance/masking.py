"""Turn masking decisions and row filters into DuckDB SQL for governed views. Pure functions.

The pseudonymization key is a parameter; it never lives in the repository. Note that any SQL
text that embeds the key (a view definition) is readable by whoever can read the view's
definition (``duckdb_views()``); the SQL door should either keep the key in a place the analyst
cannot query, or materialize governed tables. :func:`pseudonym_key_literal` is the default;
pass ``key_sql`` to use something else (e.g. a macro the analyst cannot redefine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from governance.decision import TREATMENTS, RowFilter

__all__ = [
    "governed_select_sql",
    "quote_ident",
    "quote_literal",
    "quote_relation",
    "row_filter_sql",
    "select_expressions",
]

RedactStyle = Literal["stars", "null"]


def quote_ident(name: str) -> str:
    """A DuckDB identifier, double-quoted; a dotted name ``schema.table`` is quoted per part."""
    if not name or "\0" in name:
        raise ValueError(f"invalid identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_relation(name: str) -> str:
    """``schema.table`` -> ``"schema"."table"``."""
    return ".".join(quote_ident(part) for part in name.split("."))


def quote_literal(value: str) -> str:
    """A DuckDB string literal."""
    if "\0" in value:
        raise ValueError("NUL in SQL literal")
    return "'" + value.replace("'", "''") + "'"


def select_expressions(
    columns: Sequence[str],
    treatments: Mapping[str, str],
    *,
    secret: str | None = None,
    key_sql: str | None = None,
    redact: RedactStyle = "stars",
) -> list[str]:
    """One select expression per kept column, in ``columns`` order.

    - ``clear``: ``"col"``
    - ``pseudonymize``: ``sha256(<key> || '|' || CAST("col" AS VARCHAR)) AS "col"`` (a keyed
      hash; NULL stays NULL). The key is ``secret`` as a literal, or the SQL expression
      ``key_sql``; one of them is required when any column is pseudonymized.
    - ``redact``: ``'***' AS "col"`` (``redact="stars"``) or ``CAST(NULL AS VARCHAR) AS "col"``
    - ``drop``: omitted.

    A column missing from ``treatments`` or with an unknown treatment raises ``ValueError``
    (fail closed: the caller must not build a view it cannot govern).
    """
    out: list[str] = []
    for column in columns:
        treatment = treatments.get(column)
        if treatment not in TREATMENTS:
            raise ValueError(f"no valid treatment for column {column!r}: {treatment!r}")
        ident = quote_ident(column)
        if treatment == "clear":
            out.append(ident)
        elif treatment == "pseudonymize":
            key = _key(secret, key_sql)
            out.append(f"sha256({key} || '|' || CAST({ident} AS VARCHAR)) AS {ident}")
        elif treatment == "redact":
            value = "'***'" if redact == "stars" else "CAST(NULL AS VARCHAR)"
            out.append(f"{value} AS {ident}")
        # drop: nothing
    return out


def _key(secret: str | None, key_sql: str | None) -> str:
    if key_sql is not None:
        return f"({key_sql})"
    if secret:
        return quote_literal(secret)
    raise ValueError("pseudonymization needs a secret (or key_sql); none was given")


def row_filter_sql(row_filter: RowFilter) -> str:
    """A WHERE-clause predicate: ``TRUE``, ``FALSE``, or an OR of ``CAST(col AS VARCHAR) IN (...)``."""
    if row_filter.mode == "all":
        return "TRUE"
    if row_filter.mode == "none":
        return "FALSE"
    parts: list[str] = []
    for condition in row_filter.conditions:
        if not condition.values:
            continue
        values = ", ".join(quote_literal(v) for v in condition.values)
        parts.append(f"CAST({quote_ident(condition.column)} AS VARCHAR) IN ({values})")
    if not parts:
        return "FALSE"
    return "(" + " OR ".join(parts) + ")"


def governed_select_sql(
    source: str,
    columns: Sequence[str],
    treatments: Mapping[str, str],
    row_filter: RowFilter,
    *,
    secret: str | None = None,
    key_sql: str | None = None,
    redact: RedactStyle = "stars",
) -> str:
    """``SELECT <governed columns> FROM <source> WHERE <row filter>``; wrap it in
    ``CREATE VIEW`` (or ``CREATE TABLE AS``) as the SQL door needs. ``source`` is a relation
    name (quoted per dotted part). Raises ``ValueError`` when every column is dropped."""
    exprs = select_expressions(columns, treatments, secret=secret, key_sql=key_sql, redact=redact)
    if not exprs:
        raise ValueError(f"every column of {source} is dropped for this subject")
    return (
        f"SELECT {', '.join(exprs)} FROM {quote_relation(source)} "
        f"WHERE {row_filter_sql(row_filter)}"
    )
