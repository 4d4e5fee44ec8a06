"""Lessons: each edit is a new immutable version and publishing pins one version for students;
a student's views and progress are recorded as learning statements. Every write is one
transaction with its outbox event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from apis.assignments.completion import lesson_completed
from apis.learning.markdown import render
from apis.learning.records import Record, record_statement
from apis.learning.schemas import (
    Attachment,
    Course,
    CreateLessonRequest,
    Lesson,
    LessonVersion,
    UpdateLessonRequest,
)
from apis.state import AppState
from core import outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import (
    LessonChangedV1,
    LessonCreatedV1,
    LessonPublishedV1,
    LessonUnpublishedV1,
    LessonUpdatedV1,
)
from core.ids import new_id, parse_uuid

_LESSON = (
    "lesson_id::text, unit_id::text, course_id::text, owner_id::text, position, title, body,"
    " attachments::text[] as attachments, version, published_version, created_at, updated_at"
)


def _lesson_event(cls: type[LessonChangedV1], row: dict[str, Any]) -> LessonChangedV1:
    return cls(
        lesson_id=row["lesson_id"],
        unit_id=row["unit_id"],
        course_id=row["course_id"],
        owner_id=row["owner_id"],
        version=row["version"],
        published_version=row["published_version"],
        attachment_count=len(row["attachments"]),
        changed_at=row["updated_at"],
    )


async def _insert_version(conn: AsyncConnection[Any], row: dict[str, Any], by: str) -> None:
    await conn.execute(
        "insert into learning.lesson_versions (lesson_id, version, title, body, attachments,"
        " created_by, created_at) values (%s, %s, %s, %s, %s::uuid[], %s, %s)",
        (
            row["lesson_id"],
            row["version"],
            row["title"],
            row["body"],
            row["attachments"],
            by,
            row["updated_at"],
        ),
    )


async def create_lesson(
    state: AppState, course: Course, unit_id: str, by: str, data: CreateLessonRequest
) -> Lesson:
    async with state.pool.connection() as conn, conn.transaction():
        await conn.execute("select 1 from learning.units where unit_id = %s for update", (unit_id,))
        cur = await conn.execute(
            "insert into learning.lessons (lesson_id, unit_id, course_id, owner_id, position,"
            " title, body) values (%s, %s, %s, %s,"
            " (select count(*) from learning.lessons where unit_id = %s), %s, %s)"
            f" returning {_LESSON}",
            (new_id(), unit_id, course.course_id, course.owner_id, unit_id, data.title, data.body),
        )
        row = await cur.fetchone()
        assert row is not None
        await _insert_version(conn, row, by)
        await outbox.append(conn, _lesson_event(LessonCreatedV1, row))
    return _lesson(row, [])


async def _load_lesson(
    conn: AsyncConnection[Any], lesson_id: str, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"select {_LESSON} from learning.lessons where lesson_id = %s"
        + (" for update" if lock else ""),
        (lesson_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"lesson {lesson_id} not found")
    return dict(row)


async def lesson_row(state: AppState, lesson_id: str) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        return await _load_lesson(conn, lesson_id)


async def _attachments(conn: AsyncConnection[Any], media_ids: list[str]) -> list[Attachment]:
    if not media_ids:
        return []
    cur = await conn.execute(
        "select media_id::text, kind, content_type, size_bytes, filename from learning.media"
        " where media_id = any(%s::uuid[]) and status = 'ready'",
        (media_ids,),
    )
    found = {r["media_id"]: r for r in await cur.fetchall()}
    return [
        Attachment(
            m,
            found[m]["kind"],
            found[m]["content_type"],
            found[m]["size_bytes"],
            found[m]["filename"],
        )
        for m in media_ids
        if m in found
    ]


def _lesson(row: dict[str, Any], attachments: list[Attachment]) -> Lesson:
    return Lesson(
        row["lesson_id"],
        row["unit_id"],
        row["course_id"],
        row["owner_id"],
        row["title"],
        row["body"],
        render(row["body"]),
        attachments,
        row["version"],
        row["published_version"],
        row["created_at"],
        row["updated_at"],
    )


async def show_lesson(state: AppState, row: dict[str, Any], *, published: bool) -> Lesson:
    """The lesson as its teacher edits it, or (`published`) the version students see."""
    async with state.pool.connection() as conn:
        if published:
            if row["published_version"] is None:
                raise NotFound(f"lesson {row['lesson_id']} is not published")
            cur = await conn.execute(
                "select title, body, attachments::text[] as attachments from"
                " learning.lesson_versions where lesson_id = %s and version = %s",
                (row["lesson_id"], row["published_version"]),
            )
            pinned = await cur.fetchone()
            assert pinned is not None
            row = {**row, **pinned, "version": row["published_version"]}
        return _lesson(row, await _attachments(conn, list(row["attachments"])))


async def update_lesson(
    state: AppState, lesson_id: str, by: str, data: UpdateLessonRequest
) -> Lesson:
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_lesson(conn, lesson_id, lock=True)
        if data.expected_version is not None and data.expected_version != row["version"]:
            raise Conflict(
                f"lesson {lesson_id} is at version {row['version']}, not "
                f"{data.expected_version}: reload it and edit again"
            )
        attachments = list(row["attachments"])
        if data.attachments is not None:
            attachments = [parse_uuid(m, "attachments[]") for m in data.attachments]
            if len(set(attachments)) != len(attachments):
                raise InvalidInput("attachments: the same media id appears twice")
            cur = await conn.execute(
                "select media_id::text from learning.media where media_id = any(%s::uuid[])"
                " and status = 'ready' and holder_type = 'lesson' and holder_id = %s",
                (attachments, lesson_id),
            )
            usable = {r["media_id"] for r in await cur.fetchall()}
            missing = [m for m in attachments if m not in usable]
            if missing:
                raise InvalidInput(
                    "attachments: not finalised uploads of this lesson: " + ", ".join(missing)
                )
        title = data.title if data.title is not None else row["title"]
        body = data.body if data.body is not None else row["body"]
        if (title, body, attachments) == (row["title"], row["body"], list(row["attachments"])):
            return _lesson(row, await _attachments(conn, attachments))
        cur = await conn.execute(
            "update learning.lessons set title = %s, body = %s, attachments = %s::uuid[],"
            f" version = version + 1, updated_at = now() where lesson_id = %s returning {_LESSON}",
            (title, body, attachments, lesson_id),
        )
        updated = await cur.fetchone()
        assert updated is not None
        await _insert_version(conn, updated, by)
        await outbox.append(conn, _lesson_event(LessonUpdatedV1, updated))
        return _lesson(updated, await _attachments(conn, attachments))


async def set_published(state: AppState, lesson_id: str, version: int | None) -> Lesson:
    """Publish `version` (default newest), or unpublish when `version` is 0."""
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_lesson(conn, lesson_id, lock=True)
        if version == 0:
            pinned = None
            event: type[LessonChangedV1] = LessonUnpublishedV1
        else:
            pinned = version or row["version"]
            if pinned > row["version"]:
                raise NotFound(
                    f"version: lesson {lesson_id} has versions 1 to {row['version']}, not {pinned}"
                )
            event = LessonPublishedV1
        if pinned == row["published_version"]:
            return _lesson(row, await _attachments(conn, list(row["attachments"])))
        cur = await conn.execute(
            "update learning.lessons set published_version = %s, updated_at = now()"
            f" where lesson_id = %s returning {_LESSON}",
            (pinned, lesson_id),
        )
        updated = await cur.fetchone()
        assert updated is not None
        await outbox.append(conn, _lesson_event(event, updated))
        return _lesson(updated, await _attachments(conn, list(updated["attachments"])))


async def lesson_versions(state: AppState, lesson_id: str) -> list[LessonVersion]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select lesson_id::text, version, title, body, attachments::text[] as attachments,"
            " created_by::text, created_at from learning.lesson_versions where lesson_id = %s"
            " order by version",
            (lesson_id,),
        )
        return [
            LessonVersion(
                r["lesson_id"],
                r["version"],
                r["title"],
                r["body"],
                list(r["attachments"]),
                r["created_by"],
                r["created_at"],
            )
            for r in await cur.fetchall()
        ]


async def published_attachments(state: AppState, row: dict[str, Any]) -> list[str]:
    """The media ids of the lesson's published version (none when unpublished)."""
    if row["published_version"] is None:
        return []
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select attachments::text[] as attachments from learning.lesson_versions"
            " where lesson_id = %s and version = %s",
            (row["lesson_id"], row["published_version"]),
        )
        pinned = await cur.fetchone()
    return list(pinned["attachments"]) if pinned else []


async def record(state: AppState, record: Record) -> str:
    """Store a learning record; a completed lesson hands in its lesson assignments in the
    same transaction."""
    async with state.pool.connection() as conn, conn.transaction():
        statement_id = await record_statement(conn, record)
        if record.verb == "completed" and record.object_type == "lesson":
            await lesson_completed(
                conn,
                lesson_id=record.object_id,
                student_id=record.user_id,
                completed_at=datetime.now(UTC),
            )
    return statement_id
