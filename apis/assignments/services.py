"""Assignments: created for a class (or some of its students), worked on, submitted (versions
until the due time, later ones as the late policy says), graded and returned. Every state change
is one transaction with its outbox event. A student's status is derived from the stored work and,
for work not yet handed in, from what she did elsewhere (an exam attempt in progress, a lesson
opened, a file uploaded for the task) and the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from apis.assignments.schemas import (
    Assignment,
    AssignmentView,
    CreateAssignmentRequest,
    GradeRequest,
    Submission,
    SubmitRequest,
    TodoItem,
    Work,
)
from apis.state import AppState
from core import outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import (
    AssignmentCreatedV1,
    WorkChangedV1,
    WorkGradedV1,
    WorkReturnedV1,
    WorkSubmittedV1,
)
from core.ids import new_id, parse_uuid

_ASSIGNMENT = (
    "a.assignment_id::text, a.owner_id::text, a.class_id::text, a.kind, a.title, a.instructions,"
    " a.exam_id::text, a.lesson_id::text, a.accepts_text, a.accepts_files, a.open_at, a.due_at,"
    " a.late_policy, a.points, a.student_ids::text[] as student_ids, a.created_at"
)
_WORK = (
    "w.state, w.version, w.submitted_at, w.is_late, w.flagged, w.attempt_id::text as attempt_id,"
    " w.points_awarded, w.feedback"
)
# Signs of work begun on an assignment not yet handed in (no stored state needed for these).
_STARTED = """(
  (a.kind = 'exam' and exists (select 1 from exams.attempts t where t.exam_id = a.exam_id
     and t.student_id = {student} and t.status = 'in_progress'))
  or (a.kind = 'lesson' and exists (select 1 from lrs.statements s
     where s.user_id = {student} and s.object_type = 'lesson'
     and s.object_id = a.lesson_id::text))
  or (a.kind = 'task' and exists (select 1 from learning.media md
     where md.holder_type = 'submission' and md.holder_id = a.assignment_id
     and md.user_id = {student}))
) as begun"""


def _assignment(row: dict[str, Any]) -> Assignment:
    return Assignment(
        row["assignment_id"],
        row["owner_id"],
        row["class_id"],
        row["kind"],
        row["title"],
        row["instructions"],
        row["exam_id"],
        row["lesson_id"],
        row["accepts_text"],
        row["accepts_files"],
        row["open_at"],
        row["due_at"],
        row["late_policy"],
        row["points"],
        list(row["student_ids"]) if row["student_ids"] is not None else None,
        row["created_at"],
    )


def _points(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def work_of(row: dict[str, Any], student_id: str, now: datetime, *, teacher: bool) -> Work:
    """The student's work with its status: returned > graded > submitted > late (past due,
    nothing handed in) > in progress > not started. Students see points and feedback once the
    work is returned."""
    state = row.get("state")
    if state in ("submitted", "graded", "returned"):
        status = state
    elif now > row["due_at"]:
        status = "late"
    elif state == "in_progress" or row.get("begun"):
        status = "in_progress"
    else:
        status = "not_started"
    shown = teacher or state == "returned"
    return Work(
        student_id,
        status,
        row.get("version") or 0,
        row.get("submitted_at"),
        bool(row.get("is_late")),
        bool(row.get("flagged")),
        row.get("attempt_id"),
        _points(row.get("points_awarded")) if shown else None,
        row.get("feedback") if shown else None,
    )


# ------------------------------------------------------------------------------ creating
async def _check_target(
    conn: AsyncConnection[Any], data: CreateAssignmentRequest, class_id: str
) -> tuple[str | None, str | None, list[str] | None]:
    exam_id = lesson_id = None
    if data.kind == "exam":
        if data.exam_id is None:
            raise InvalidInput("exam_id: an exam assignment needs the exam")
        exam_id = parse_uuid(data.exam_id, "exam_id")
        cur = await conn.execute(
            "select class_id::text from exams.exams where exam_id = %s", (exam_id,)
        )
        exam = await cur.fetchone()
        if exam is None or exam["class_id"] != class_id:
            raise InvalidInput(f"exam_id: exam {exam_id} is not an exam of class {class_id}")
    elif data.kind == "lesson":
        if data.lesson_id is None:
            raise InvalidInput("lesson_id: a lesson assignment needs the lesson")
        lesson_id = parse_uuid(data.lesson_id, "lesson_id")
        cur = await conn.execute(
            "select 1 from learning.lessons l join learning.course_classes cc on"
            " cc.course_id = l.course_id where l.lesson_id = %s and cc.class_id = %s"
            " and l.published_version is not null",
            (lesson_id, class_id),
        )
        if await cur.fetchone() is None:
            raise InvalidInput(
                f"lesson_id: lesson {lesson_id} is not a published lesson of a course "
                f"assigned to class {class_id}"
            )
    elif not (data.accepts_text or data.accepts_files):
        raise InvalidInput("accepts_text/accepts_files: a task takes text, files or both")
    students = None
    if data.student_ids is not None:
        students = sorted({parse_uuid(s, "student_ids[]") for s in data.student_ids})
        cur = await conn.execute(
            "select student_id::text from classes.memberships where class_id = %s"
            " and student_id = any(%s::uuid[])",
            (class_id, students),
        )
        members = {r["student_id"] for r in await cur.fetchall()}
        strangers = [s for s in students if s not in members]
        if strangers:
            raise InvalidInput("student_ids: not students of the class: " + ", ".join(strangers))
    return exam_id, lesson_id, students


async def create_assignment(
    state: AppState, owner_id: str, class_id: str, data: CreateAssignmentRequest
) -> Assignment:
    if data.open_at.tzinfo is None or data.due_at.tzinfo is None:
        raise InvalidInput("open_at/due_at: give times with a UTC offset (RFC 3339)")
    if data.due_at <= data.open_at:
        raise InvalidInput("due_at: must be after open_at")
    async with state.pool.connection() as conn, conn.transaction():
        exam_id, lesson_id, students = await _check_target(conn, data, class_id)
        cur = await conn.execute(
            "insert into assignments.assignments as a (assignment_id, owner_id, class_id, kind,"
            " exam_id, lesson_id, title, instructions, accepts_text, accepts_files, open_at,"
            " due_at, late_policy, points, student_ids) values (%s, %s, %s, %s, %s, %s, %s, %s,"
            f" %s, %s, %s, %s, %s, %s, %s::uuid[]) returning {_ASSIGNMENT}",
            (
                new_id(),
                owner_id,
                class_id,
                data.kind,
                exam_id,
                lesson_id,
                data.title,
                data.instructions,
                data.accepts_text,
                data.accepts_files,
                data.open_at,
                data.due_at,
                data.late_policy,
                data.points,
                students,
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            AssignmentCreatedV1(
                assignment_id=row["assignment_id"],
                owner_id=owner_id,
                class_id=class_id,
                kind=data.kind,
                exam_id=exam_id,
                lesson_id=lesson_id,
                open_at=row["open_at"],
                due_at=row["due_at"],
                late_policy=data.late_policy,
                points=data.points,
                targeted_students=len(students) if students is not None else None,
                created_at=row["created_at"],
                student_ids=list(students) if students is not None else None,
            ),
        )
    return _assignment(row)


# ------------------------------------------------------------------------------ reading
async def get_assignment(state: AppState, assignment_id: str) -> Assignment:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_ASSIGNMENT} from assignments.assignments a where a.assignment_id = %s",
            (assignment_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    return _assignment(row)


def targets(assignment: Assignment, student_id: str) -> bool:
    return assignment.student_ids is None or student_id in assignment.student_ids


async def todo(state: AppState, student_id: str) -> list[TodoItem]:
    """A student's open assignments (her classes, targeted at her), soonest due first."""
    now = datetime.now(UTC)
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_ASSIGNMENT}, {_WORK}, {_STARTED.format(student='%(s)s')}"
            " from assignments.assignments a"
            " join classes.memberships m on m.class_id = a.class_id and m.student_id = %(s)s"
            " left join assignments.work w on w.assignment_id = a.assignment_id"
            " and w.student_id = %(s)s"
            " where (a.student_ids is null or %(s)s = any(a.student_ids)) and a.open_at <= now()"
            " order by a.due_at, a.assignment_id",
            {"s": student_id},
        )
        rows = await cur.fetchall()
    return [TodoItem(_assignment(r), work_of(r, student_id, now, teacher=False)) for r in rows]


async def owned(state: AppState, owner_id: str, class_id: str | None) -> list[Assignment]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_ASSIGNMENT} from assignments.assignments a where a.owner_id = %s"
            " and (%s::uuid is null or a.class_id = %s::uuid) order by a.due_at, a.assignment_id",
            (owner_id, class_id, class_id),
        )
        return [_assignment(r) for r in await cur.fetchall()]


async def view(state: AppState, assignment: Assignment, student_id: str | None) -> AssignmentView:
    """Every targeted student's work (teacher: `student_id` None) or one student's."""
    now = datetime.now(UTC)
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select m.student_id::text as student_id, a.due_at, {_WORK},"
            f" {_STARTED.format(student='m.student_id')}"
            " from assignments.assignments a"
            " join classes.memberships m on m.class_id = a.class_id"
            " left join assignments.work w on w.assignment_id = a.assignment_id"
            " and w.student_id = m.student_id"
            " where a.assignment_id = %(a)s"
            " and (a.student_ids is null or m.student_id = any(a.student_ids))"
            " and (%(s)s::uuid is null or m.student_id = %(s)s::uuid)"
            " order by m.student_id",
            {"a": assignment.assignment_id, "s": student_id},
        )
        rows = await cur.fetchall()
    teacher = student_id is None
    return AssignmentView(
        assignment, [work_of(r, r["student_id"], now, teacher=teacher) for r in rows]
    )


async def submissions(
    state: AppState, assignment_id: str, student_id: str | None
) -> list[Submission]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select assignment_id::text, student_id::text, version, body,"
            " media_ids::text[] as media_ids, is_late, submitted_at from assignments.submissions"
            " where assignment_id = %s and (%s::uuid is null or student_id = %s::uuid)"
            " order by student_id, version",
            (assignment_id, student_id, student_id),
        )
        rows = await cur.fetchall()
    return [
        Submission(
            r["assignment_id"],
            r["student_id"],
            r["version"],
            r["body"],
            list(r["media_ids"]),
            r["is_late"],
            r["submitted_at"],
        )
        for r in rows
    ]


# ------------------------------------------------------------------------------ state changes
async def _event(
    conn: AsyncConnection[Any],
    cls: type[WorkChangedV1],
    a: Assignment,
    row: dict[str, Any],
) -> None:
    await outbox.append(
        conn,
        cls(
            assignment_id=a.assignment_id,
            student_id=row["student_id"],
            class_id=a.class_id,
            kind=a.kind,
            state=row["state"],
            version=row["version"],
            is_late=row["is_late"],
            flagged=row["flagged"],
            points_awarded=_points(row["points_awarded"]),
            attempt_id=row["attempt_id"],
            changed_at=row["updated_at"],
        ),
    )


_WORK_RETURNING = (
    "returning student_id::text, state, version, is_late, flagged, points_awarded,"
    " attempt_id::text, updated_at, submitted_at, feedback"
)


async def _locked_work(
    conn: AsyncConnection[Any], assignment_id: str, student_id: str
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "select state, version, is_late from assignments.work where assignment_id = %s"
        " and student_id = %s for update",
        (assignment_id, student_id),
    )
    return await cur.fetchone()


def lateness(a: Assignment, at: datetime, *, already_submitted: bool) -> tuple[bool, bool]:
    """(is_late, flagged) of a hand-in at `at`; Conflict when the rules refuse it."""
    if at < a.open_at:
        raise Conflict(f"assignment {a.assignment_id} opens at {a.open_at.isoformat()}")
    late = at > a.due_at
    if late and a.late_policy == "refuse":
        raise Conflict(
            f"assignment {a.assignment_id} was due at {a.due_at.isoformat()} and takes no late work"
        )
    if late and already_submitted:
        raise Conflict(
            f"assignment {a.assignment_id} was due at {a.due_at.isoformat()}: the version "
            "handed in before then stands"
        )
    return late, late and a.late_policy == "flag"


async def submit(
    state: AppState, a: Assignment, student_id: str, data: SubmitRequest
) -> Submission:
    if a.kind == "exam":
        raise Conflict("an exam assignment is handed in by finishing the exam's attempt")
    body = data.body
    media_ids = [parse_uuid(m, "media_ids[]") for m in data.media_ids]
    if a.kind == "task":
        if body and not a.accepts_text:
            raise InvalidInput("body: this task takes files only")
        if media_ids and not a.accepts_files:
            raise InvalidInput("media_ids: this task takes text only")
        if not body and not media_ids:
            raise InvalidInput("body/media_ids: a submission needs text or files")
    elif body or media_ids:
        raise InvalidInput("body/media_ids: a lesson is handed in empty (it marks it done)")
    async with state.pool.connection() as conn, conn.transaction():
        if media_ids:
            cur = await conn.execute(
                "select media_id::text from learning.media where media_id = any(%s::uuid[])"
                " and status = 'ready' and holder_type = 'submission' and holder_id = %s"
                " and user_id = %s",
                (media_ids, a.assignment_id, student_id),
            )
            usable = {r["media_id"] for r in await cur.fetchall()}
            missing = [m for m in media_ids if m not in usable]
            if missing:
                raise InvalidInput(
                    "media_ids: not your finalised uploads for this assignment: "
                    + ", ".join(missing)
                )
        current = await _locked_work(conn, a.assignment_id, student_id)
        if current is not None and current["state"] in ("graded", "returned"):
            raise Conflict(f"assignment {a.assignment_id}: your work was already graded")
        now = datetime.now(UTC)
        submitted = current is not None and current["version"] > 0
        late, flagged = lateness(a, now, already_submitted=submitted)
        cur = await conn.execute(
            "insert into assignments.work (assignment_id, student_id, state, version,"
            " submitted_at, is_late, flagged, updated_at) values (%s, %s, 'submitted', 1, %s,"
            " %s, %s, %s) on conflict (assignment_id, student_id) do update set"
            " state = 'submitted', version = assignments.work.version + 1,"
            " submitted_at = excluded.submitted_at, is_late = excluded.is_late,"
            f" flagged = excluded.flagged, updated_at = excluded.updated_at {_WORK_RETURNING}",
            (a.assignment_id, student_id, now, late, flagged, now),
        )
        work = await cur.fetchone()
        assert work is not None
        await conn.execute(
            "insert into assignments.submissions (assignment_id, student_id, version, body,"
            " media_ids, is_late, submitted_at) values (%s, %s, %s, %s, %s::uuid[], %s, %s)",
            (a.assignment_id, student_id, work["version"], body, media_ids, late, now),
        )
        await _event(conn, WorkSubmittedV1, a, work)
    return Submission(a.assignment_id, student_id, work["version"], body, media_ids, late, now)


async def grade(state: AppState, a: Assignment, student_id: str, data: GradeRequest) -> Work:
    if data.points > a.points:
        raise InvalidInput(f"points: at most {a.points} for this assignment")
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select 1 from classes.memberships where class_id = %s and student_id = %s",
            (a.class_id, student_id),
        )
        if await cur.fetchone() is None or not targets(a, student_id):
            raise NotFound(f"student {student_id} has no work on assignment {a.assignment_id}")
        now = datetime.now(UTC)
        cur = await conn.execute(
            "insert into assignments.work (assignment_id, student_id, state, points_awarded,"
            " feedback, graded_at, updated_at) values (%s, %s, 'graded', %s, %s, %s, %s)"
            " on conflict (assignment_id, student_id) do update set state = 'graded',"
            " points_awarded = excluded.points_awarded, feedback = excluded.feedback,"
            f" graded_at = excluded.graded_at, updated_at = excluded.updated_at {_WORK_RETURNING}",
            (a.assignment_id, student_id, data.points, data.feedback, now, now),
        )
        work = await cur.fetchone()
        assert work is not None
        await _event(conn, WorkGradedV1, a, work)
    return work_of({**work, "due_at": a.due_at}, student_id, now, teacher=True)


async def return_work(state: AppState, a: Assignment, student_id: str) -> Work:
    async with state.pool.connection() as conn, conn.transaction():
        current = await _locked_work(conn, a.assignment_id, student_id)
        if current is None or current["state"] not in ("graded", "returned"):
            raise Conflict("grade the work before returning it")
        now = datetime.now(UTC)
        cur = await conn.execute(
            "update assignments.work set state = 'returned', returned_at = %s, updated_at = %s"
            f" where assignment_id = %s and student_id = %s {_WORK_RETURNING}",
            (now, now, a.assignment_id, student_id),
        )
        work = await cur.fetchone()
        assert work is not None
        if current["state"] != "returned":
            await _event(conn, WorkReturnedV1, a, work)
    return work_of({**work, "due_at": a.due_at}, student_id, now, teacher=True)
