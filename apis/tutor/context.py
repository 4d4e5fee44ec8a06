"""What the tutor may see for one turn, read from the other services' tables (read only).

The exam lock is a matter of data: the model's context is built only from
- the published lessons of the courses assigned to the conversation's class (`lesson_rows`),
- for a conversation on an exam item, that item with its key and the student's own answer --
  loaded only after the reveal policy allowed it (`finished_item`), which it never does while an
  attempt holding the item is in progress.
Active exam items are loaded too, but only into the quote guard (`active_items`): they never reach
the prompt. Nothing of another student is ever read; the names and e-mails of the class are read
only to be replaced by placeholders (`class_names`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from apis.state import AppState
from apis.tutor.retrieval import Passage, split_lesson
from apis.tutor.schemas import Mode

DEFAULT_MODE: Mode = "off_during_exams"


@dataclass(frozen=True, slots=True)
class ActiveItems:
    exam_ids: list[str]
    item_ids: list[str]
    texts: list[str]  # stems and options, for the quote guard only


@dataclass(frozen=True, slots=True)
class FinishedItem:
    item_id: str
    exam_id: str
    stem: str
    options: list[str]
    answer_key: int | None
    choice: int | None
    is_correct: bool | None
    skills: list[str]


def option_text(option: Any) -> str:
    if isinstance(option, dict):
        return str(option.get("text") or option.get("label") or "")
    return str(option)


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """Everything a turn needs to know before it decides, read in one round trip."""

    mode: str
    active: ActiveItems
    fingerprint: str  # of the published lesson versions the class sees
    school_allows_external_models: bool
    student_opted_out: bool


_TURN_FACTS_SQL = (
    "select (select mode from tutor.class_settings where class_id = %(class_id)s) as mode,"
    # Items of every exam the student has an attempt in progress on (any class: an exam of
    # another class is still an exam).
    " coalesce((select json_agg(json_build_object('exam_id', x.exam_id, 'item_id', x.item_id,"
    " 'stem', x.stem, 'options', x.options)) from (select distinct e.exam_id::text as exam_id,"
    " i.item_id::text as item_id, i.stem, i.options from exams.attempts a"
    " join exams.exams e on e.exam_id = a.exam_id join content.items i"
    " on i.item_id = any(e.item_ids) where a.student_id = %(user_id)s"
    " and a.status = 'in_progress') x), '[]'::json) as active,"
    # Changes exactly when the set of published lesson versions the class sees changes.
    " (select coalesce(string_agg(l.lesson_id::text || ':' || l.published_version, ','"
    " order by l.lesson_id), '') from learning.course_classes cc"
    " join learning.courses c on c.course_id = cc.course_id and not c.archived"
    " join learning.lessons l on l.course_id = c.course_id"
    " and l.published_version is not null where cc.class_id = %(class_id)s) as lessons,"
    # Consent for external models (privacy.consent: the school's setting, her opt-out).
    " coalesce((select external_models_allowed from privacy.school_settings), false)"
    " as school_allows,"
    " exists (select 1 from privacy.model_opt_outs where user_id = %(user_id)s) as opted_out"
)


async def turn_facts(state: AppState, class_id: str, student_id: str) -> TurnFacts:
    """The class's mode, the student's active exam items (for the policy and the quote guard
    only), the lesson fingerprint and the consent facts: one query, one round trip."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(_TURN_FACTS_SQL, {"class_id": class_id, "user_id": student_id})
        row = await cur.fetchone()
    assert row is not None
    rows = row["active"] or []
    texts: list[str] = []
    for item in rows:
        texts.append(str(item["stem"]))
        texts.extend(option_text(o) for o in item["options"] or [])
    active = ActiveItems(
        sorted({r["exam_id"] for r in rows}), sorted({r["item_id"] for r in rows}), texts
    )
    return TurnFacts(
        str(row["mode"]) if row["mode"] else DEFAULT_MODE,
        active,
        hashlib.sha256(str(row["lessons"] or "").encode()).hexdigest(),
        bool(row["school_allows"]),
        bool(row["opted_out"]),
    )


async def lesson_rows(state: AppState, class_id: str) -> list[dict[str, Any]]:
    """Published versions of the lessons of the class's (unarchived) courses."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select l.lesson_id::text as lesson_id, l.published_version, v.title, v.body"
            " from learning.course_classes cc"
            " join learning.courses c on c.course_id = cc.course_id and not c.archived"
            " join learning.lessons l on l.course_id = c.course_id"
            " and l.published_version is not null"
            " join learning.lesson_versions v on v.lesson_id = l.lesson_id"
            " and v.version = l.published_version"
            " where cc.class_id = %s order by l.lesson_id",
            (class_id,),
        )
        return list(await cur.fetchall())


def passages_of(rows: list[dict[str, Any]]) -> list[Passage]:
    passages: list[Passage] = []
    for row in rows:
        passages.extend(split_lesson(row["lesson_id"], row["title"], row["body"]))
    return passages


async def finished_item(
    state: AppState, student_id: str, exam_id: str, item_id: str
) -> FinishedItem | None:
    """The item with its key and the student's latest completed answer to it; None when she has
    no completed attempt on that exam holding the item. Call only after the reveal policy."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select i.stem, i.options, i.answer_key, i.skills, r.choice, r.is_correct"
            " from exams.attempts a join exams.exams e on e.exam_id = a.exam_id"
            " join content.items i on i.item_id = %s and i.item_id = any(e.item_ids)"
            " left join exams.responses r on r.attempt_id = a.attempt_id and r.item_id = i.item_id"
            " where a.student_id = %s and a.exam_id = %s and a.status = 'completed'"
            " order by a.completed_at desc limit 1",
            (item_id, student_id, exam_id),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return FinishedItem(
        item_id,
        exam_id,
        str(row["stem"]),
        [option_text(o) for o in row["options"] or []],
        row["answer_key"],
        row["choice"],
        row["is_correct"],
        list(row["skills"] or []),
    )


async def class_names(state: AppState, class_id: str) -> list[str]:
    """Display names and e-mails of the class (its teacher and students): replaced by
    placeholders before any text leaves for an external model."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select a.display_name, a.email from users.accounts a where a.user_id in"
            " (select teacher_id from classes.classes where class_id = %s union"
            " select student_id from classes.memberships where class_id = %s)",
            (class_id, class_id),
        )
        rows = await cur.fetchall()
    names: list[str] = []
    for row in rows:
        names.extend((str(row["display_name"]), str(row["email"])))
    return names
