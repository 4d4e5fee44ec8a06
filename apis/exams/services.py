"""Fixed-form exams and attempts: start → answer … → finish, each step one transaction.

A response is committed before the answer returns, and the attempt row is locked while it
changes, so concurrent answers and a concurrent finish serialise instead of racing.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from apis.exams.schemas import Attempt, Exam, ExamItem, Response
from apis.state import AppState
from core import outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import AttemptCompletedV1, AttemptStartedV1, ExamCreatedV1, ResponseRecordedV1
from core.ids import new_id

_EXAM_COLUMNS = (
    "exam_id::text, owner_id::text, class_id::text, title, kind, item_ids::text[], created_at"
)
_ATTEMPT_COLUMNS = (
    "attempt_id::text, exam_id::text, student_id::text, status, started_at, completed_at,"
    " raw_score, max_score"
)


async def ensure_teaches(conn: AsyncConnection[Any], teacher_id: str, class_id: str | None) -> None:
    """An exam may be set for a class only by the class's own teacher."""
    if class_id is None:
        return
    cur = await conn.execute(
        "select teacher_id::text from classes.classes where class_id = %s", (class_id,)
    )
    owner = await cur.fetchone()
    if owner is None:
        raise InvalidInput(f"class {class_id} does not exist")
    if owner["teacher_id"] != teacher_id:
        raise InvalidInput(f"class {class_id} is not one of your classes")


async def create_exam(
    state: AppState, owner_id: str, title: str, item_ids: list[str], class_id: str | None
) -> Exam:
    if len(set(item_ids)) != len(item_ids):
        raise InvalidInput("item_ids contains the same item twice")
    exam_id = new_id()
    async with state.pool.connection() as conn, conn.transaction():
        await ensure_teaches(conn, owner_id, class_id)
        cur = await conn.execute(
            "select item_id::text, version from content.items where item_id = any(%s::uuid[])"
            " and owner_id = %s and status <> 'retired'",
            (item_ids, owner_id),
        )
        versions = {r["item_id"]: r["version"] for r in await cur.fetchall()}
        usable = set(versions)
        missing = [i for i in item_ids if i not in usable]
        if missing:
            raise InvalidInput(
                "these items do not exist in your bank or are retired: " + ", ".join(missing)
            )
        cur = await conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids, item_versions)"
            f" values (%s, %s, %s, %s, %s::uuid[], %s) returning {_EXAM_COLUMNS}",
            (exam_id, owner_id, class_id, title, item_ids, [versions[i] for i in item_ids]),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            ExamCreatedV1(
                exam_id=str(exam_id),
                owner_id=owner_id,
                class_id=class_id,
                item_count=len(item_ids),
                created_at=row["created_at"],
            ),
        )
    return Exam.from_row(row)


async def _load_exam(conn: AsyncConnection[Any], exam_id: str) -> Exam:
    cur = await conn.execute(
        f"select {_EXAM_COLUMNS} from exams.exams where exam_id = %s", (exam_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"exam {exam_id} not found")
    return Exam.from_row(row)


async def get_exam(state: AppState, exam_id: str) -> Exam:
    async with state.pool.connection() as conn:
        return await _load_exam(conn, exam_id)


async def _exam_items(conn: AsyncConnection[Any], item_ids: list[str]) -> list[ExamItem]:
    cur = await conn.execute(
        "select item_id::text, stem, options from content.items where item_id = any(%s::uuid[])",
        (item_ids,),
    )
    by_id = {
        r["item_id"]: ExamItem(r["item_id"], r["stem"], list(r["options"]))
        for r in await cur.fetchall()
    }
    return [by_id[i] for i in item_ids if i in by_id]


async def _load_attempt(
    conn: AsyncConnection[Any], attempt_id: str, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"select {_ATTEMPT_COLUMNS} from exams.attempts where attempt_id = %s"
        + (" for update" if lock else ""),
        (attempt_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"attempt {attempt_id} not found")
    return dict(row)


async def _attempt(conn: AsyncConnection[Any], row: dict[str, Any], exam: Exam) -> Attempt:
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
    return Attempt.from_row(row, await _exam_items(conn, exam.item_ids), responses)


async def start_attempt(state: AppState, exam: Exam, student_id: str) -> tuple[Attempt, bool]:
    """Start an attempt, or resume the one in progress. Returns (attempt, created)."""
    async with state.pool.connection() as conn, conn.transaction():
        # Serialise starts of the same student on the same exam (no duplicate attempts).
        await conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{exam.exam_id}:{student_id}",),
        )
        cur = await conn.execute(
            f"select {_ATTEMPT_COLUMNS} from exams.attempts where exam_id = %s and student_id = %s"
            " and status = 'in_progress'",
            (exam.exam_id, student_id),
        )
        existing = await cur.fetchone()
        if existing is not None:
            return await _attempt(conn, dict(existing), exam), False
        cur = await conn.execute(
            "insert into exams.attempts (attempt_id, exam_id, student_id)"
            f" values (%s, %s, %s) returning {_ATTEMPT_COLUMNS}",
            (new_id(), exam.exam_id, student_id),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            AttemptStartedV1(
                attempt_id=row["attempt_id"],
                exam_id=exam.exam_id,
                student_id=student_id,
                started_at=row["started_at"],
            ),
        )
        return await _attempt(conn, dict(row), exam), True


async def attempt_owner(state: AppState, attempt_id: str) -> tuple[dict[str, Any], Exam]:
    async with state.pool.connection() as conn:
        row = await _load_attempt(conn, attempt_id)
        return row, await _load_exam(conn, row["exam_id"])


async def get_attempt(state: AppState, attempt_id: str) -> Attempt:
    async with state.pool.connection() as conn:
        row = await _load_attempt(conn, attempt_id)
        return await _attempt(conn, row, await _load_exam(conn, row["exam_id"]))


async def answer(
    state: AppState, attempt_id: str, item_id: str, choice: int
) -> tuple[Response, bool]:
    """Record one answer. Re-sending the same answer is harmless; changing it is a conflict."""
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_attempt(conn, attempt_id, lock=True)
        if row["status"] != "in_progress":
            raise Conflict("this attempt is already completed; no more answers are accepted")
        exam = await _load_exam(conn, row["exam_id"])
        if item_id not in exam.item_ids:
            raise InvalidInput(f"item {item_id} is not part of this exam")
        cur = await conn.execute(
            "select options, answer_key from content.items where item_id = %s", (item_id,)
        )
        item = await cur.fetchone()
        assert item is not None
        if choice >= len(item["options"]):
            raise InvalidInput(
                f"choice {choice} is out of range: this item has options 0 to {len(item['options']) - 1}"
            )
        cur = await conn.execute(
            "select choice, answered_at from exams.responses where attempt_id = %s and item_id = %s",
            (attempt_id, item_id),
        )
        previous = await cur.fetchone()
        if previous is not None:
            if previous["choice"] != choice:
                raise Conflict(
                    f"item {item_id} was already answered with choice {previous['choice']}"
                )
            return Response(item_id, choice, previous["answered_at"]), False
        # Keyed items: the key; graded items: full credit (the top category) counts as correct.
        key = item["answer_key"] if item["answer_key"] is not None else len(item["options"]) - 1
        is_correct = choice == key
        cur = await conn.execute(
            "insert into exams.responses (attempt_id, item_id, choice, is_correct)"
            " values (%s, %s, %s, %s) returning answered_at",
            (attempt_id, item_id, choice, is_correct),
        )
        stored = await cur.fetchone()
        assert stored is not None
        await outbox.append(
            conn,
            ResponseRecordedV1(
                attempt_id=attempt_id,
                exam_id=exam.exam_id,
                student_id=row["student_id"],
                item_id=item_id,
                choice=choice,
                is_correct=is_correct,
                answered_at=stored["answered_at"],
            ),
        )
    return Response(item_id, choice, stored["answered_at"]), True


async def finish(state: AppState, attempt_id: str) -> Attempt:
    """Score the attempt and announce `exams.attempt.completed.v1`, in one transaction."""
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_attempt(conn, attempt_id, lock=True)
        if row["status"] != "in_progress":
            raise Conflict("this attempt is already completed")
        exam = await _load_exam(conn, row["exam_id"])
        cur = await conn.execute(
            "update exams.attempts set status = 'completed', completed_at = now(),"
            " raw_score = (select count(*) from exams.responses where attempt_id = %s and is_correct),"
            f" max_score = %s where attempt_id = %s returning {_ATTEMPT_COLUMNS}",
            (attempt_id, len(exam.item_ids), attempt_id),
        )
        done = await cur.fetchone()
        assert done is not None
        await outbox.append(
            conn,
            AttemptCompletedV1(
                attempt_id=attempt_id,
                exam_id=exam.exam_id,
                student_id=done["student_id"],
                class_id=exam.class_id,
                raw_score=done["raw_score"],
                max_score=done["max_score"],
                started_at=done["started_at"],
                completed_at=done["completed_at"],
            ),
            occurred_at=done["completed_at"],
        )
        return await _attempt(conn, dict(done), exam)
