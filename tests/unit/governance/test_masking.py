"""Masking helpers: pure SQL generation, checked by running it on an in-memory DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from governance import LocalEngine, RowCondition, RowFilter, Subject
from governance.masking import (
    governed_select_sql,
    quote_ident,
    quote_literal,
    quote_relation,
    row_filter_sql,
    select_expressions,
)
from tests.support.policy import Blocking

SECRET = "test-only-secret"


def test_quoting() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("o'brien") == "'o''brien'"
    assert quote_relation("users.accounts") == '"users"."accounts"'
    with pytest.raises(ValueError):
        quote_ident("")
    with pytest.raises(ValueError):
        quote_literal("a\0b")


def test_select_expressions_per_treatment() -> None:
    exprs = select_expressions(
        ["user_id", "email", "role", "password_hash"],
        {"user_id": "pseudonymize", "email": "redact", "role": "clear", "password_hash": "drop"},
        secret=SECRET,
    )
    assert exprs == [
        f"sha256('{SECRET}' || '|' || CAST(\"user_id\" AS VARCHAR)) AS \"user_id\"",
        "'***' AS \"email\"",
        '"role"',
    ]
    null_style = select_expressions(["email"], {"email": "redact"}, redact="null")
    assert null_style == ['CAST(NULL AS VARCHAR) AS "email"']
    keyed = select_expressions(["u"], {"u": "pseudonymize"}, key_sql="getvariable('k')")
    assert keyed == ["sha256((getvariable('k')) || '|' || CAST(\"u\" AS VARCHAR)) AS \"u\""]


def test_fail_closed_on_missing_treatment_or_key() -> None:
    with pytest.raises(ValueError, match="no valid treatment"):
        select_expressions(["a", "b"], {"a": "clear"})
    with pytest.raises(ValueError, match="no valid treatment"):
        select_expressions(["a"], {"a": "show"})
    with pytest.raises(ValueError, match="secret"):
        select_expressions(["a"], {"a": "pseudonymize"})
    with pytest.raises(ValueError, match="secret"):
        select_expressions(["a"], {"a": "pseudonymize"}, secret="")


def test_row_filter_sql() -> None:
    assert row_filter_sql(RowFilter("all")) == "TRUE"
    assert row_filter_sql(RowFilter("none")) == "FALSE"
    f = RowFilter("any", (RowCondition("class_id", ("c1", "c'2")), RowCondition("owner_id", ())))
    assert row_filter_sql(f) == "(CAST(\"class_id\" AS VARCHAR) IN ('c1', 'c''2'))"
    assert row_filter_sql(RowFilter("any", (RowCondition("x", ()),))) == "FALSE"


def test_row_filter_from_policy_validation() -> None:
    assert RowFilter.from_policy({"mode": "any", "conditions": []}) == RowFilter("none")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE SCHEMA users")
    c.execute(
        "CREATE TABLE users.accounts (user_id UUID, email VARCHAR, display_name VARCHAR,"
        " role VARCHAR, password_hash VARCHAR, created_at TIMESTAMPTZ)"
    )
    c.execute(
        "INSERT INTO users.accounts VALUES"
        " ('00000000-0000-0000-0000-000000000001', 'ada@x.org', 'Ada', 'student', 'h1', now()),"
        " ('00000000-0000-0000-0000-000000000002', 'bob@x.org', 'Bob', 'teacher', 'h2', now()),"
        " (NULL, 'nobody@x.org', 'N', 'student', 'h3', now())"
    )
    return c


COLUMNS = ["user_id", "email", "display_name", "role", "password_hash", "created_at"]


def test_governed_view_for_analyst_end_to_end(con: duckdb.DuckDBPyConnection) -> None:
    engine = Blocking(LocalEngine())
    analyst = Subject("a1", "analyst")
    treatments = engine.sql_masking(analyst, "users.accounts", COLUMNS)
    rows = engine.sql_rows(analyst, "users.accounts")
    sql = governed_select_sql("users.accounts", COLUMNS, treatments, rows, secret=SECRET)
    con.execute(f"CREATE VIEW governed_accounts AS {sql}")
    described = [r[0] for r in con.execute("DESCRIBE governed_accounts").fetchall()]
    assert described == ["user_id", "email", "display_name", "role", "created_at"]
    got = con.execute("SELECT user_id, email, display_name, role FROM governed_accounts").fetchall()
    assert len(got) == 3
    pseudonyms = [r[0] for r in got]
    assert all(p is None or len(p) == 64 for p in pseudonyms)
    assert pseudonyms.count(None) == 1  # NULL stays NULL
    assert "00000000-0000-0000-0000-000000000001" not in pseudonyms
    assert {r[1] for r in got} == {"***"} and {r[2] for r in got} == {"***"}
    # stable pseudonyms: the same key gives the same pseudonym, another key another one
    again = con.execute(
        governed_select_sql("users.accounts", COLUMNS, treatments, rows, secret=SECRET)
    ).fetchall()
    assert [r[0] for r in again] == pseudonyms
    other = con.execute(
        governed_select_sql("users.accounts", COLUMNS, treatments, rows, secret="other-key")
    ).fetchall()
    assert [r[0] for r in other][:2] != pseudonyms[:2]


def test_governed_select_for_student_rows(con: duckdb.DuckDBPyConnection) -> None:
    engine = Blocking(LocalEngine())
    student = Subject("00000000-0000-0000-0000-000000000001", "student")
    treatments = engine.sql_masking(student, "users.accounts", COLUMNS)
    rows = engine.sql_rows(student, "users.accounts")
    got = con.execute(
        governed_select_sql("users.accounts", COLUMNS, treatments, rows, secret=SECRET)
    ).fetchall()
    assert len(got) == 1 and got[0][1] == "ada@x.org"


def test_all_dropped_raises() -> None:
    with pytest.raises(ValueError, match="every column"):
        governed_select_sql("t", ["a"], {"a": "drop"}, RowFilter("all"))
