"""Privacy requests in PostgreSQL (`privacy.requests`, `privacy.request_steps`): who asked for
what about whom, the step running now (progress), the steps finished (so an erasure that crashed
resumes after the last one), and a summary of counts (never personal values).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

KINDS = ("export", "erasure")


@dataclass(frozen=True, slots=True)
class PrivacyRequest:
    request_id: str
    kind: str
    user_id: str | None
    tombstone_id: str | None
    subject: dict[str, Any] | None
    requested_by: str
    status: str
    step: str | None
    archive_key: str | None
    summary: dict[str, Any]
    error: str | None
    requested_at: datetime
    finished_at: datetime | None


_COLUMNS = (
    "request_id::text, kind, user_id::text, tombstone_id::text, subject, requested_by, status,"
    " step, archive_key, summary, error, requested_at, finished_at"
)


def create(conn: psycopg.Connection[Any], kind: str, user_id: str, requested_by: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    request_id = str(uuid.uuid4())
    conn.execute(
        "insert into privacy.requests (request_id, kind, user_id, requested_by)"
        " values (%s, %s, %s, %s)",
        (request_id, kind, user_id, requested_by),
    )
    return request_id


def load(conn: psycopg.Connection[Any], request_id: str) -> PrivacyRequest | None:
    row = conn.execute(
        f"select {_COLUMNS} from privacy.requests where request_id::text = %s", (request_id,)
    ).fetchone()
    return PrivacyRequest(*row) if row is not None else None


def recent(conn: psycopg.Connection[Any], limit: int = 50) -> list[PrivacyRequest]:
    rows = conn.execute(
        f"select {_COLUMNS} from privacy.requests order by requested_at desc limit %s", (limit,)
    ).fetchall()
    return [PrivacyRequest(*row) for row in rows]


def open_requests(conn: psycopg.Connection[Any]) -> list[str]:
    """Requests not finished (new ones, and ones a crash left running), oldest first."""
    rows = conn.execute(
        "select request_id::text from privacy.requests where status in ('requested', 'running')"
        " order by requested_at"
    ).fetchall()
    return [r[0] for r in rows]


def steps_done(conn: psycopg.Connection[Any], request_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        "select step, detail from privacy.request_steps where request_id::text = %s",
        (request_id,),
    ).fetchall()
    return {step: detail for step, detail in rows}


def start_step(conn: psycopg.Connection[Any], request_id: str, step: str) -> None:
    conn.execute(
        "update privacy.requests set status = 'running', step = %s, updated_at = now()"
        " where request_id::text = %s",
        (step, request_id),
    )


def finish_step(
    conn: psycopg.Connection[Any], request_id: str, step: str, detail: dict[str, Any]
) -> None:
    conn.execute(
        "insert into privacy.request_steps (request_id, step, detail) values (%s, %s, %s)"
        " on conflict (request_id, step) do nothing",
        (request_id, step, Jsonb(detail)),
    )


def finish(
    conn: psycopg.Connection[Any],
    request_id: str,
    summary: dict[str, Any],
    *,
    archive_key: str | None = None,
) -> None:
    conn.execute(
        "update privacy.requests set status = 'done', step = null, summary = %s,"
        " archive_key = coalesce(%s, archive_key), updated_at = now(), finished_at = now()"
        " where request_id::text = %s",
        (Jsonb(summary), archive_key, request_id),
    )


def fail(conn: psycopg.Connection[Any], request_id: str, error: str) -> None:
    conn.execute(
        "update privacy.requests set status = 'failed', error = %s, updated_at = now()"
        " where request_id::text = %s",
        (error[:2000], request_id),
    )
