"""Fixed-form delivery: the exam's items, in its order, at the versions pinned when it was set.

Each step is one transaction under the attempt's row lock, which `delivery` takes and authorizes
before calling in here, so concurrent answers and a concurrent finish serialise. Answers may come
in any order. Each is scored against its pinned version, so a teacher editing an item later
changes nothing for exams already set. Repeats behave as in adaptive delivery: the same
idempotency key (or the same item and choice) returns the stored answer and records nothing.
With a time limit, the attempt is finished at its deadline by whichever request comes first
after it (an answer, a read, a finish, a new start); nothing answered after it counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from apis.exams import rules
from apis.exams.rules import STUDENT_FINISH_REASON, TIME_LIMIT_REASON, expired
from apis.exams.schemas import AnswerReply, AnswerRequest, Attempt, ExamItem, Response
from core import outbox
from core.errors import Conflict, InvalidInput
from core.events import AttemptCompletedV1, AttemptStartedV1, ResponseRecordedV1
from core.ids import new_id

if TYPE_CHECKING:
    from apis.exams.delivery import ExamInfo

_COLUMNS = (
    "attempt_id::text, exam_id::text, student_id::text, status, started_at, completed_at,"
    " raw_score, max_score, deadline, stop_reason"
)


async def start(
    conn: AsyncConnection[Any], info: ExamInfo, student_id: str
) -> tuple[Attempt, bool]:
    """Start an attempt, or resume the one in progress. Returns (attempt, created)."""
    exam_id = info.exam.exam_id
    # Serialise starts of the same student on the same exam (no duplicate attempts).
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{exam_id}:{student_id}",)
    )
    cur = await conn.execute(
        f"select {_COLUMNS} from exams.attempts where exam_id = %s and student_id = %s"
        " and status = 'in_progress'",
        (exam_id, student_id),
    )
    existing = await cur.fetchone()
    if existing is not None:
        row = dict(existing)
        if not expired(row, datetime.now(UTC)):
            return await view(conn, row, info), False
        await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
    cur = await conn.execute(
        "insert into exams.attempts (attempt_id, exam_id, student_id, deadline)"
        " values (%(id)s, %(exam)s, %(student)s, now() + make_interval(secs => %(limit)s))"
        f" returning {_COLUMNS}",
        {"id": new_id(), "exam": exam_id, "student": student_id, "limit": info.time_limit},
    )
    row = await cur.fetchone()
    assert row is not None
    await outbox.append(
        conn,
        AttemptStartedV1(
            attempt_id=row["attempt_id"],
            exam_id=exam_id,
            student_id=student_id,
            started_at=row["started_at"],
        ),
    )
    return Attempt.from_row(row, _items(info), [], deadline=row["deadline"]), True


async def answer(
    conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo, data: AnswerRequest
) -> tuple[AnswerReply, bool] | None:
    """Record one answer (`row`: the attempt, locked). Returns (reply, recorded now), or None
    when the time limit had passed: the attempt is then finished at its deadline, and the caller
    commits that and refuses the answer."""
    attempt_id, item_id = row["attempt_id"], str(data.item_id)
    previous = await rules.previous_answer(conn, attempt_id, item_id, data.idempotency_key)
    if previous is not None:
        rules.ensure_same_answer(previous, data)
        reply = AnswerReply(
            previous["item_id"], previous["choice"], previous["answered_at"],
            status=row["status"], replayed=True,
        )  # fmt: skip
        return reply, False
    if row["status"] != "in_progress":
        raise Conflict("this attempt is already completed; no more answers are accepted")
    if expired(row, datetime.now(UTC)):
        await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
        return None
    position = info.index_of.get(item_id)
    if position is None:
        raise InvalidInput(f"item {item_id} is not part of this exam")
    entry = info.pool[position]
    entry.check_choice(data.choice)
    score, is_correct = entry.score_of(data.choice)
    cur = await conn.execute(
        "insert into exams.responses (attempt_id, item_id, choice, is_correct, position, score,"
        " item_version, idempotency_key) values (%s, %s, %s, %s, %s, %s, %s, %s)"
        " returning answered_at",
        (
            attempt_id, item_id, data.choice, is_correct, position, score, entry.version,
            data.idempotency_key,
        ),
    )  # fmt: skip
    stored = await cur.fetchone()
    assert stored is not None
    await outbox.append(
        conn,
        ResponseRecordedV1(
            attempt_id=attempt_id,
            exam_id=info.exam.exam_id,
            student_id=row["student_id"],
            item_id=item_id,
            choice=data.choice,
            is_correct=is_correct,
            answered_at=stored["answered_at"],
        ),
    )
    return AnswerReply(item_id, data.choice, stored["answered_at"]), True


async def finish(conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo) -> Attempt:
    """The student hands in (`row`: locked); past the time limit, it ends at the deadline."""
    if row["status"] != "in_progress":
        raise Conflict("this attempt is already completed")
    if expired(row, datetime.now(UTC)):
        done = await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
    else:
        done = await _complete(conn, row, info, STUDENT_FINISH_REASON)
    return await view(conn, done, info)


async def finish_if_expired(
    conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo
) -> dict[str, Any]:
    """The attempt as it stands: finished at its deadline first if that has passed (`row`:
    read without a lock; it is locked and read again before anything is written)."""
    if not expired(row, datetime.now(UTC)):
        return row
    async with conn.transaction():
        cur = await conn.execute(
            f"select {_COLUMNS} from exams.attempts where attempt_id = %s for update",
            (row["attempt_id"],),
        )
        locked = await cur.fetchone()
        assert locked is not None
        if not expired(dict(locked), datetime.now(UTC)):
            return dict(locked)
        return await _complete(conn, dict(locked), info, TIME_LIMIT_REASON, at=locked["deadline"])


async def _complete(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    reason: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Score the locked attempt, complete it (`at`, default now) and announce
    `exams.attempt.completed.v1`. Returns the completed row."""
    cur = await conn.execute(
        "update exams.attempts set status = 'completed', completed_at = coalesce(%(at)s, now()),"
        " raw_score = (select count(*) from exams.responses where attempt_id = %(id)s"
        " and is_correct), max_score = %(max)s, stop_reason = %(reason)s"
        f" where attempt_id = %(id)s returning {_COLUMNS}",
        {"id": row["attempt_id"], "max": len(info.pool), "reason": reason, "at": at},
    )
    done = await cur.fetchone()
    assert done is not None
    await outbox.append(
        conn,
        AttemptCompletedV1(
            attempt_id=done["attempt_id"],
            exam_id=info.exam.exam_id,
            student_id=done["student_id"],
            class_id=info.exam.class_id,
            raw_score=done["raw_score"],
            max_score=done["max_score"],
            started_at=done["started_at"],
            completed_at=done["completed_at"],
        ),
        occurred_at=done["completed_at"],
    )
    return dict(done)


async def view(conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo) -> Attempt:
    """The attempt with its items and answers; correctness only once it is completed."""
    completed = row["status"] == "completed"
    cur = await conn.execute(
        "select item_id::text, choice, answered_at, is_correct from exams.responses"
        " where attempt_id = %s order by answered_at",
        (row["attempt_id"],),
    )
    responses = [
        Response(
            r["item_id"], r["choice"], r["answered_at"], r["is_correct"] if completed else None
        )
        for r in await cur.fetchall()
    ]
    return Attempt.from_row(row, _items(info), responses, deadline=row["deadline"])


def _items(info: ExamInfo) -> list[ExamItem]:
    return [entry.shown() for entry in info.pool]
