"""A scratch PostgreSQL database per test module, with the foundation migration applied.

Never skipped: if PostgreSQL is not reachable these tests fail loudly.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
MIGRATION = Path(__file__).resolve().parents[3] / "core" / "migrations" / "0001_foundation.sql"


@pytest.fixture(scope="module")
def scratch_dsn() -> Iterator[str]:
    name = f"governance_it_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(MIGRATION.read_text())  # type: ignore[arg-type]
        yield dsn
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def clean_dsn(scratch_dsn: str) -> str:
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute("truncate governance.decisions")
    return scratch_dsn
