"""Courses → units → lessons. A teacher owns her courses; a course is visible to the classes its
teacher assigned it to. Every write is one transaction with its outbox event. Lessons (versions,
publishing, learning records) are in `apis.learning.lessons`.
"""

from __future__ import annotations

from typing import Any

from apis.learning.schemas import (
    Course,
    CreateCourseRequest,
    LessonSummary,
    Unit,
    UpdateCourseRequest,
)
from apis.state import AppState
from core import outbox
from core.errors import NotFound
from core.events import (
    CourseAssignedV1,
    CourseCreatedV1,
    CourseUpdatedV1,
    UnitCreatedV1,
)
from core.ids import new_id, parse_uuid

_COURSE = "course_id::text, owner_id::text, title, description, archived, created_at, updated_at"


def _course(row: dict[str, Any]) -> Course:
    return Course(
        row["course_id"],
        row["owner_id"],
        row["title"],
        row["description"],
        row["archived"],
        row["created_at"],
        row["updated_at"],
    )


# ------------------------------------------------------------------------------ access
async def access_class(state: AppState, course_id: str, user_id: str) -> str | None:
    """A class through which `user_id` reaches the course (she is a member or its teacher), or
    None. The policy decides with it (students: class-shared resources of their classes)."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select cc.class_id::text from learning.course_classes cc"
            " join classes.classes c on c.class_id = cc.class_id"
            " where cc.course_id = %s and (c.teacher_id = %s or exists (select 1 from"
            " classes.memberships m where m.class_id = cc.class_id and m.student_id = %s))"
            " order by cc.class_id limit 1",
            (course_id, user_id, user_id),
        )
        row = await cur.fetchone()
    return row["class_id"] if row else None


# ------------------------------------------------------------------------------ courses
async def create_course(state: AppState, owner_id: str, data: CreateCourseRequest) -> Course:
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "insert into learning.courses (course_id, owner_id, title, description)"
            f" values (%s, %s, %s, %s) returning {_COURSE}",
            (new_id(), owner_id, data.title, data.description),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            CourseCreatedV1(
                course_id=row["course_id"], owner_id=owner_id, created_at=row["created_at"]
            ),
        )
    return _course(row)


async def get_course_row(state: AppState, course_id: str) -> Course:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COURSE} from learning.courses where course_id = %s", (course_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"course {course_id} not found")
    return _course(row)


async def course_outline(state: AppState, course: Course, *, published_only: bool) -> Course:
    """The course with its units and lessons (students: published lessons only) and, for its
    teacher, the classes it is assigned to."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select unit_id::text, title, position from learning.units where course_id = %s"
            " order by position",
            (course.course_id,),
        )
        units = {
            r["unit_id"]: Unit(r["unit_id"], r["title"], r["position"], [])
            for r in await cur.fetchall()
        }
        cur = await conn.execute(
            "select lesson_id::text, unit_id::text, position, version, published_version,"
            " coalesce((select v.title from learning.lesson_versions v where v.lesson_id ="
            " l.lesson_id and v.version = l.published_version), l.title) as published_title,"
            " title from learning.lessons l where course_id = %s"
            " and (not %s or published_version is not null) order by unit_id, position",
            (course.course_id, published_only),
        )
        for r in await cur.fetchall():
            title = r["published_title"] if published_only else r["title"]
            units[r["unit_id"]].lessons.append(
                LessonSummary(
                    r["lesson_id"], title, r["position"], r["version"], r["published_version"]
                )
            )
        if not published_only:
            cur = await conn.execute(
                "select class_id::text from learning.course_classes where course_id = %s"
                " order by class_id",
                (course.course_id,),
            )
            course.class_ids = [r["class_id"] for r in await cur.fetchall()]
    course.units = list(units.values())
    return course


async def list_courses(state: AppState, user_id: str, role: str) -> list[Course]:
    """A teacher's own courses; a student's (anyone else's) courses assigned to her classes and
    not archived: what she can study."""
    async with state.pool.connection() as conn:
        if role == "student":
            cur = await conn.execute(
                f"select {_COURSE} from learning.courses where not archived and course_id in"
                " (select cc.course_id from learning.course_classes cc join classes.memberships m"
                " on m.class_id = cc.class_id where m.student_id = %s) order by created_at",
                (user_id,),
            )
        else:
            cur = await conn.execute(
                f"select {_COURSE} from learning.courses where owner_id = %s order by created_at",
                (user_id,),
            )
        return [_course(r) for r in await cur.fetchall()]


async def update_course(state: AppState, course_id: str, data: UpdateCourseRequest) -> Course:
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "update learning.courses set title = coalesce(%s, title),"
            " description = coalesce(%s, description), archived = coalesce(%s, archived),"
            f" updated_at = now() where course_id = %s returning {_COURSE}",
            (data.title, data.description, data.archived, course_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"course {course_id} not found")
        await outbox.append(
            conn,
            CourseUpdatedV1(
                course_id=course_id,
                owner_id=row["owner_id"],
                archived=row["archived"],
                updated_at=row["updated_at"],
            ),
        )
    return _course(row)


async def set_course_class(
    state: AppState, course: Course, class_id: str, *, assigned: bool
) -> list[str]:
    """Assign the course to a class (or withdraw it); idempotent, an event only on a change."""
    class_id = parse_uuid(class_id, "class_id")
    async with state.pool.connection() as conn, conn.transaction():
        if assigned:
            cur = await conn.execute(
                "insert into learning.course_classes (course_id, class_id) values (%s, %s)"
                " on conflict do nothing returning assigned_at",
                (course.course_id, class_id),
            )
        else:
            cur = await conn.execute(
                "delete from learning.course_classes where course_id = %s and class_id = %s"
                " returning now() as assigned_at",
                (course.course_id, class_id),
            )
        changed = await cur.fetchone()
        if changed is not None:
            await outbox.append(
                conn,
                CourseAssignedV1(
                    course_id=course.course_id,
                    class_id=class_id,
                    owner_id=course.owner_id,
                    assigned=assigned,
                    changed_at=changed["assigned_at"],
                ),
            )
        cur = await conn.execute(
            "select class_id::text from learning.course_classes where course_id = %s"
            " order by class_id",
            (course.course_id,),
        )
        return [r["class_id"] for r in await cur.fetchall()]


# ------------------------------------------------------------------------------ units
async def create_unit(state: AppState, course_id: str, title: str) -> Unit:
    async with state.pool.connection() as conn, conn.transaction():
        # The course row lock serialises positions within the course.
        await conn.execute(
            "select 1 from learning.courses where course_id = %s for update", (course_id,)
        )
        cur = await conn.execute(
            "insert into learning.units (unit_id, course_id, title, position) values"
            " (%s, %s, %s, (select count(*) from learning.units where course_id = %s))"
            " returning unit_id::text, title, position, created_at",
            (new_id(), course_id, title, course_id),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            UnitCreatedV1(
                unit_id=row["unit_id"],
                course_id=course_id,
                position=row["position"],
                created_at=row["created_at"],
            ),
        )
    return Unit(row["unit_id"], row["title"], row["position"], [])


async def unit_course(state: AppState, unit_id: str) -> Course:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select course_id::text from learning.units where unit_id = %s", (unit_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unit {unit_id} not found")
    return await get_course_row(state, row["course_id"])
