"""Silver tables copied into PostgreSQL for dbt (`lake_silver.<table>`), exactly once.

The marts that need lake-only data read these copies (ADR 0008's planned path, started with the
tutor's turns, which exist nowhere else without their text, and the LRS's learning records). The tables are made by the
migrations (dbt needs them even before the first load). A copy is keyed by `event_id`: a run
reads the silver table and inserts the rows the copy does not have yet (`on conflict do nothing`),
so reruns and overlapping runs add nothing twice. Person columns arrive already pseudonymised.
"""

from __future__ import annotations

from typing import Any

import psycopg

from core.settings import Settings
from lake.catalog import load_catalog
from lake.tables import identifier

SCHEMA = "lake_silver"


# Silver table -> the columns its copy keeps (core/migrations/0020_tutor.sql, 0028_lrs_marts.sql).
COPIES: dict[str, tuple[str, ...]] = {
    "tutor_turns": (
        "event_id", "occurred_at", "conversation_id", "turn_id", "turn_index", "student_key",
        "class_id", "item_id", "exam_id", "model", "prompt_tokens", "completion_tokens",
        "latency_ms", "revealed_answer", "policy_reason", "kind", "lesson_ids", "skills",
        "completed_at",
    ),
    "learning_records": (
        "event_id", "event_seq", "event_type", "event_version", "occurred_at", "record_id",
        "student_key", "actor_key", "verb", "verb_id", "object_type", "object_id", "activity_id",
        "registration", "class_id", "score", "success", "duration_seconds", "progress",
        "completion", "voids_record_id", "credential_id", "recorded_at",
    ),
}  # fmt: skip


def copy_to_postgres(settings: Settings, table: str = "tutor_turns") -> int:
    """Insert the silver rows the PostgreSQL copy lacks; returns how many were added."""
    names = list(COPIES[table])
    arrow = (
        load_catalog(settings)
        .load_table(identifier(settings, table))
        .scan(selected_fields=tuple(names))
        .to_arrow()
    )
    rows: list[dict[str, Any]] = arrow.to_pylist()
    placeholders = ", ".join(["%s"] * len(names))
    with psycopg.connect(settings.database_url) as conn, conn.transaction():
        before = _count(conn, table)
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into {SCHEMA}.{table} ({', '.join(names)}) values ({placeholders})"
                " on conflict (event_id) do nothing",
                [tuple(row[name] for name in names) for row in rows],
            )
        return _count(conn, table) - before


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"select count(*) from {SCHEMA}.{table}").fetchone()
    return int(row[0]) if row else 0
