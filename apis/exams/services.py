"""Setting fixed-form exams, and reading an exam. (Attempts of either kind: `delivery`.)"""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from apis.exams.schemas import Exam
from apis.state import AppState
from core import outbox
from core.errors import InvalidInput, NotFound
from core.events import ExamCreatedV1
from core.ids import new_id

_EXAM_COLUMNS = (
    "exam_id::text, owner_id::text, class_id::text, title, kind, item_ids::text[], created_at,"
    " config"
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
    state: AppState,
    owner_id: str,
    title: str,
    item_ids: list[str],
    class_id: str | None,
    time_limit_seconds: int | None = None,
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
        config = (
            json.dumps({"time_limit_seconds": time_limit_seconds}) if time_limit_seconds else None
        )
        cur = await conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids, item_versions,"
            f" config) values (%s, %s, %s, %s, %s::uuid[], %s, %s) returning {_EXAM_COLUMNS}",
            (
                exam_id,
                owner_id,
                class_id,
                title,
                item_ids,
                [versions[i] for i in item_ids],
                config,
            ),
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
