"""Rules every attempt follows, fixed-form or adaptive: the time limit and its grace, the
reasons an attempt stops, and how a repeated answer is judged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from apis.exams.schemas import AnswerRequest
from core.errors import Conflict

# Answers arriving this long after the deadline still count (network and client latency).
GRACE = timedelta(seconds=2)
TIME_LIMIT_REASON = "time limit reached"
STUDENT_FINISH_REASON = "finished by the student"


def expired(row: dict[str, Any], now: datetime) -> bool:
    """An attempt (`exams.attempts` row) still in progress past its deadline and the grace."""
    return (
        row["status"] == "in_progress"
        and row["deadline"] is not None
        and now > row["deadline"] + GRACE
    )


async def previous_answer(
    conn: AsyncConnection[Any], attempt_id: str, item_id: str, key: str | None
) -> dict[str, Any] | None:
    """The answer already stored under this idempotency key, else the one to this item."""
    cur = await conn.execute(
        "select item_id::text, choice, answered_at, idempotency_key from exams.responses"
        " where attempt_id = %s and (item_id = %s or idempotency_key = %s)"
        " order by (idempotency_key = %s) desc nulls last limit 1",
        (attempt_id, item_id, key, key),
    )
    found = await cur.fetchone()
    return dict(found) if found else None


def ensure_same_answer(previous: dict[str, Any], data: AnswerRequest) -> None:
    """A repeat is harmless only when it says what was stored: the same key (or item) with a
    different answer is a conflict, never a second record."""
    item_id = str(data.item_id)
    if data.idempotency_key is not None and previous["idempotency_key"] == data.idempotency_key:
        if (previous["item_id"], previous["choice"]) != (item_id, data.choice):
            raise Conflict(
                f"idempotency key {data.idempotency_key!r} was already used for item "
                f"{previous['item_id']} with choice {previous['choice']}"
            )
    elif previous["choice"] != data.choice:
        raise Conflict(f"item {item_id} was already answered with choice {previous['choice']}")
