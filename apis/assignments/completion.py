"""Exam assignments complete themselves when the attempt finishes; lesson assignments when the
student's lesson progress says completed.

Called by the exams service inside the transaction that completes the attempt (there is no
stream-consumer mechanism in the platform yet to consume `exams.attempt.completed.v1` with): the
assignment's work and its `assignments.work.submitted.v1` event commit with the attempt, so the
assignment can never lag or miss a completion. When a consumer mechanism exists this can move to
it unchanged (it is idempotent per attempt: work already handed in is left alone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from core import outbox
from core.events import WorkSubmittedV1

_MATCHING = """
select a.assignment_id::text, a.class_id::text, a.due_at, a.late_policy, a.points
  from assignments.assignments a
  join classes.memberships m on m.class_id = a.class_id and m.student_id = %(student)s
 where a.kind = %(kind)s and (a.exam_id = %(target)s or a.lesson_id = %(target)s)
   and a.open_at <= %(at)s
   and (a.student_ids is null or %(student)s = any(a.student_ids))
   and not exists (select 1 from assignments.work w where w.assignment_id = a.assignment_id
                   and w.student_id = %(student)s and w.state <> 'in_progress')
"""


async def exam_completed(
    conn: AsyncConnection[Any],
    *,
    exam_id: str,
    student_id: str,
    attempt_id: str,
    completed_at: datetime,
    raw_score: int,
    max_score: int,
) -> int:
    """Hand in every open exam assignment of this exam for the student; returns how many."""
    share = raw_score / max_score if max_score else 0.0
    return await _hand_in(conn, "exam", exam_id, student_id, completed_at, share, attempt_id)


async def lesson_completed(
    conn: AsyncConnection[Any], *, lesson_id: str, student_id: str, completed_at: datetime
) -> int:
    """Hand in every open lesson assignment of this lesson for the student (full points)."""
    return await _hand_in(conn, "lesson", lesson_id, student_id, completed_at, 1.0, None)


async def _hand_in(
    conn: AsyncConnection[Any],
    kind: str,
    target_id: str,
    student_id: str,
    completed_at: datetime,
    share: float,
    attempt_id: str | None,
) -> int:
    cur = await conn.execute(
        _MATCHING,
        {"student": student_id, "kind": kind, "target": target_id, "at": completed_at},
    )
    handed_in = 0
    for a in await cur.fetchall():
        late = completed_at > a["due_at"]
        if late and a["late_policy"] == "refuse":
            continue
        flagged = late and a["late_policy"] == "flag"
        points = round(a["points"] * share, 2)
        await conn.execute(
            "insert into assignments.work (assignment_id, student_id, state, version,"
            " submitted_at, is_late, flagged, attempt_id, points_awarded, updated_at)"
            " values (%s, %s, 'submitted', 1, %s, %s, %s, %s, %s, %s)"
            " on conflict (assignment_id, student_id) do update set state = 'submitted',"
            " version = 1, submitted_at = excluded.submitted_at, is_late = excluded.is_late,"
            " flagged = excluded.flagged, attempt_id = excluded.attempt_id,"
            " points_awarded = excluded.points_awarded, updated_at = excluded.updated_at",
            (a["assignment_id"], student_id, completed_at, late, flagged, attempt_id, points,
             completed_at),
        )  # fmt: skip
        await outbox.append(
            conn,
            WorkSubmittedV1(
                assignment_id=a["assignment_id"],
                student_id=student_id,
                class_id=a["class_id"],
                kind=kind,
                state="submitted",
                version=1,
                is_late=late,
                flagged=flagged,
                points_awarded=points,
                attempt_id=attempt_id,
                changed_at=completed_at,
            ),
        )
        handed_in += 1
    return handed_in
