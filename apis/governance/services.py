"""Reading the decision log (`governance.decisions`, written by governance.decision_log).

Newest first, keyset-paginated on (decided_at, decision_id): a cursor names the last row of the
previous page, so pages stay stable while new decisions are written.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from apis.governance.schemas import DecisionPage, DecisionRecord
from apis.state import AppState
from core.errors import InvalidInput

_COLUMNS = (
    "decision_id::text, decided_at, decision, subject_id, subject_role, action, resource,"
    " allowed, reason, policy_revision, latency_us, request_id"
)


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    subject_id: str | None = None
    action: str | None = None
    allowed: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: str | None = None


def encode_cursor(decided_at: datetime, decision_id: str) -> str:
    raw = f"{decided_at.isoformat()}|{decision_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, decision_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        uuid.UUID(decision_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor: pass the next_cursor of a previous page") from None
    if when.tzinfo is None:
        raise InvalidInput("invalid cursor: pass the next_cursor of a previous page")
    return when, decision_id


async def list_decisions(state: AppState, q: DecisionQuery) -> DecisionPage:
    where: list[str] = []
    args: list[Any] = []
    if q.subject_id is not None:
        where.append("subject_id = %s")
        args.append(q.subject_id)
    if q.action is not None:
        where.append("action = %s")
        args.append(q.action)
    if q.allowed is not None:
        where.append("allowed = %s")
        args.append(q.allowed)
    if q.since is not None:
        where.append("decided_at >= %s")
        args.append(q.since)
    if q.until is not None:
        where.append("decided_at < %s")
        args.append(q.until)
    if q.since is not None and q.until is not None and q.since >= q.until:
        raise InvalidInput("`since` must be before `until`")
    if q.cursor is not None:
        at, decision_id = decode_cursor(q.cursor)
        where.append("(decided_at, decision_id) < (%s, %s::uuid)")
        args += [at, decision_id]
    sql = (
        f"select {_COLUMNS} from governance.decisions"
        f" where {' and '.join(where) if where else 'true'}"
        " order by decided_at desc, decision_id desc limit %s"
    )
    args.append(q.limit + 1)
    async with state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, args)
        rows = await cur.fetchall()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    records = [DecisionRecord(**row) for row in rows]
    next_cursor = (
        encode_cursor(records[-1].decided_at, records[-1].decision_id) if more and records else None
    )
    return DecisionPage(records, next_cursor)
