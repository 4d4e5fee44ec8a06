"""Every column the migrations create is classified in the data inventory; a migration that adds
one nobody classified fails here (shown by adding one)."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
import pytest

from core.settings import Settings
from governance.inventory import coverage_problems, load

pytestmark = pytest.mark.integration

# dbt builds `analytics` from the inventoried tables (the inventory's `derived` section).
NOT_INVENTORIED = ("pg_catalog", "information_schema", "analytics")
# The Iceberg catalog's own tables (pyiceberg's SqlCatalog makes them on first use, so they exist
# only once a lake test ran in this database): table and namespace names and metadata locations,
# no personal data; the lake's tables themselves are inventoried under `lake`.
ICEBERG_CATALOG = ("public.iceberg_tables", "public.iceberg_namespace_properties")


def database_columns(conn: psycopg.Connection) -> Mapping[str, list[str]]:
    rows = conn.execute(
        "select table_schema || '.' || table_name, column_name from information_schema.columns"
        " where table_schema <> all(%s) and table_schema not like 'pg\\_%%'"
        " order by 1, ordinal_position",
        (list(NOT_INVENTORIED),),
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        if table not in ICEBERG_CATALOG:
            out.setdefault(table, []).append(column)
    return out


def test_every_column_of_the_migrated_database_is_classified(settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        assert coverage_problems(load(), "postgres", database_columns(conn)) == []


def test_a_migration_adding_an_unclassified_column_fails(settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("alter table users.accounts add column nickname text")
        conn.execute("create table learning.diary (user_id uuid, entry text)")
        problems = coverage_problems(load(), "postgres", database_columns(conn))
        conn.rollback()
    assert problems == [
        "postgres learning.diary: not in the inventory",
        "postgres users.accounts.nickname: not classified",
    ]
