"""Conversations, transcripts and the per-class tutor mode (retention: core/transcripts.py).

The turn itself (policy, grounding, model, stream, storage) is in `apis.tutor.turns`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from apis.state import AppState
from apis.tutor.context import DEFAULT_MODE
from apis.tutor.schemas import (
    Citation,
    ClassTutor,
    Conversation,
    OpenConversationRequest,
    Turn,
)
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import new_id

CONVERSATION_COLUMNS = (
    "conversation_id::text, user_id::text, class_id::text, lesson_id::text,"
    " assignment_id::text, exam_id::text, item_id::text, turns, created_at, last_turn_at"
)
LIST_LIMIT = 200


def conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(
        conversation_id=row["conversation_id"],
        user_id=row["user_id"],
        class_id=row["class_id"],
        created_at=row["created_at"],
        turns=row["turns"],
        lesson_id=row["lesson_id"],
        assignment_id=row["assignment_id"],
        exam_id=row["exam_id"],
        item_id=row["item_id"],
        last_turn_at=row["last_turn_at"],
    )


async def _check_subject(state: AppState, student_id: str, data: OpenConversationRequest) -> None:
    """The lesson, assignment or exam item named must belong to the class (and the exam item to
    an exam the student has finished): a conversation cannot point anywhere else."""
    checks: list[tuple[str, str, tuple[Any, ...]]] = []
    if data.lesson_id:
        checks.append(
            (
                "lesson_id",
                "select 1 from learning.lessons l join learning.course_classes cc"
                " on cc.course_id = l.course_id where l.lesson_id = %s and cc.class_id = %s"
                " and l.published_version is not null",
                (data.lesson_id, data.class_id),
            )
        )
    if data.assignment_id:
        checks.append(
            (
                "assignment_id",
                "select 1 from assignments.assignments where assignment_id = %s and class_id = %s",
                (data.assignment_id, data.class_id),
            )
        )
    if data.item_id:
        checks.append(
            (
                "item_id",
                "select 1 from exams.exams e where e.exam_id = %s and e.class_id = %s"
                " and %s = any(e.item_ids)",
                (data.exam_id, data.class_id, data.item_id),
            )
        )
    async with state.pool.connection() as conn:
        for field, sql, params in checks:
            if await (await conn.execute(sql, params)).fetchone() is None:
                raise NotFound(f"{field}: not found in class {data.class_id}")
        if data.item_id:
            finished = await conn.execute(
                "select 1 from exams.attempts where exam_id = %s and student_id = %s"
                " and status = 'completed'",
                (data.exam_id, student_id),
            )
            if await finished.fetchone() is None:
                raise Conflict("exam_id: you have not finished this exam yet")


async def open_conversation(
    state: AppState, student_id: str, data: OpenConversationRequest
) -> Conversation:
    if (data.exam_id is None) != (data.item_id is None):
        raise InvalidInput("item_id: give exam_id and item_id together")
    await _check_subject(state, student_id, data)
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "insert into tutor.conversations (conversation_id, user_id, class_id, lesson_id,"
            " assignment_id, exam_id, item_id) values (%s, %s, %s, %s, %s, %s, %s)"
            f" returning {CONVERSATION_COLUMNS}",
            (
                new_id(),
                student_id,
                data.class_id,
                data.lesson_id,
                data.assignment_id,
                data.exam_id,
                data.item_id,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return conversation(row)


async def get_conversation(state: AppState, conversation_id: str) -> Conversation:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {CONVERSATION_COLUMNS} from tutor.conversations where conversation_id = %s",
            (conversation_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation(row)


async def transcript(state: AppState, conversation_id: str) -> list[Turn]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select turn_id::text, turn_index, question, answer, kind, reason, citations,"
            " created_at, model from tutor.turns where conversation_id = %s order by turn_index",
            (conversation_id,),
        )
        rows = await cur.fetchall()
    return [
        Turn(
            turn_id=r["turn_id"],
            turn_index=r["turn_index"],
            question=r["question"],
            answer=r["answer"],
            kind=r["kind"],
            reason=r["reason"],
            citations=msgspec.convert(r["citations"], list[Citation]),
            created_at=r["created_at"],
            model=r["model"],
        )
        for r in rows
    ]


async def list_conversations(
    state: AppState,
    *,
    user_id: str | None = None,
    class_id: str | None = None,
    taught_by: str | None = None,
) -> list[Conversation]:
    """A student's own conversations, a class's, or those of the classes a teacher teaches."""
    where, params = [], []
    if taught_by is not None:
        where.append("class_id in (select class_id from classes.classes where teacher_id = %s)")
        params.append(taught_by)
    if user_id is not None:
        where.append("user_id = %s")
        params.append(user_id)
    if class_id is not None:
        where.append("class_id = %s")
        params.append(class_id)
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {CONVERSATION_COLUMNS} from tutor.conversations"
            f" where {' and '.join(where) or 'true'} order by created_at desc limit {LIST_LIMIT}",
            params,
        )
        rows = await cur.fetchall()
    return [conversation(r) for r in rows]


async def class_tutor(state: AppState, class_id: str) -> ClassTutor:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select mode, updated_at from tutor.class_settings where class_id = %s", (class_id,)
        )
        row = await cur.fetchone()
    if row is None:
        return ClassTutor(class_id, DEFAULT_MODE)
    return ClassTutor(class_id, row["mode"], row["updated_at"])


async def set_class_tutor(state: AppState, class_id: str, mode: str, by: str) -> ClassTutor:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "insert into tutor.class_settings (class_id, mode, updated_by) values (%s, %s, %s)"
            " on conflict (class_id) do update set mode = excluded.mode,"
            " updated_by = excluded.updated_by, updated_at = now() returning mode, updated_at",
            (class_id, mode, by),
        )
        row = await cur.fetchone()
    assert row is not None
    return ClassTutor(class_id, row["mode"], row["updated_at"])
