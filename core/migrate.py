"""Plain SQL migrations, applied in file-name order, each in its own transaction, and recorded.

A migration file is `core/migrations/NNNN_name.sql`. Applied ones are listed in
`public.schema_migrations` with a checksum; editing an applied file is refused, so every database
converges on the same schema.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.db import AdvisoryLock

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# One advisory lock key for "migrating", so two processes starting together do not race.
_MIGRATING = AdvisoryLock(0x44524D53)


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the versions applied now."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn, _MIGRATING.session(conn):
        conn.execute(
            "create table if not exists public.schema_migrations ("
            " version text primary key, checksum text not null,"
            " applied_at timestamptz not null default now())"
        )
        rows = conn.execute("select version, checksum from public.schema_migrations").fetchall()
        done: dict[str, str] = {str(r[0]): str(r[1]) for r in rows}
        for migration in discover(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.path.name} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "insert into public.schema_migrations (version, checksum) values (%s, %s)",
                    (migration.version, migration.checksum),
                )
            applied_now.append(migration.version)
    return applied_now
