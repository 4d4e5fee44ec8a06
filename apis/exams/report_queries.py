"""The SQL of the exams service's reports: lists of results and per-item statistics."""

from __future__ import annotations

import msgspec

from apis.exams.model import AttemptRow, attempt_columns
from apis.exams.queries import Conn, fetch_all, fetch_one


async def completed_attempts(
    conn: Conn, scope: str, args: list[str], exam_id: str | None, class_id: str | None, limit: int
) -> list[AttemptRow]:
    """Completed attempts within `scope` (a condition on `a`, the attempt, and `e`, its exam)."""
    return await fetch_all(
        conn,
        AttemptRow,
        f"select {attempt_columns('a')} from exams.attempts a join exams.exams e using (exam_id)"
        f" where a.status = 'completed' and {scope}"
        " and (%s::uuid is null or a.exam_id = %s::uuid)"
        " and (%s::uuid is null or e.class_id = %s::uuid)"
        " order by a.completed_at desc limit %s",
        (*args, exam_id, exam_id, class_id, class_id, limit),
    )


class AttemptTotals(msgspec.Struct, frozen=True):
    attempts: int
    completed: int


async def attempt_totals(conn: Conn, exam_id: str) -> AttemptTotals:
    found = await fetch_one(
        conn,
        AttemptTotals,
        "select count(*) as attempts, count(*) filter (where status = 'completed')"
        " as completed from exams.attempts where exam_id = %s",
        (exam_id,),
    )
    assert found is not None  # an aggregate returns one row
    return found


class ItemStats(msgspec.Struct, frozen=True):
    """How often an exam showed an item, how it was answered, and the mean θ of its takers."""

    item_id: str
    selections: int
    responses: int
    correct: int
    mean_theta: float | None


async def selection_stats(conn: Conn, exam_id: str) -> dict[str, ItemStats]:
    """Per item of an adaptive exam: from its selection log."""
    rows = await fetch_all(
        conn,
        ItemStats,
        "select x.item_id::text, x.selections, x.responses, x.correct,"
        " (select avg(a.theta) from exams.selections s join exams.attempts a"
        "   using (attempt_id) where s.exam_id = x.exam_id and s.item_id = x.item_id"
        "   and a.status = 'completed') as mean_theta"
        " from exams.item_exposure x where x.exam_id = %s",
        (exam_id,),
    )
    return {r.item_id: r for r in rows}


async def response_stats(conn: Conn, exam_id: str) -> dict[str, ItemStats]:
    """Per item of a fixed-form exam: from its answers (every attempt is shown every item)."""
    rows = await fetch_all(
        conn,
        ItemStats,
        "select r.item_id::text, count(distinct a.attempt_id) as selections,"
        " count(*) as responses, count(*) filter (where r.is_correct) as correct,"
        " null::float8 as mean_theta from exams.responses r join exams.attempts a"
        " using (attempt_id) where a.exam_id = %s group by r.item_id",
        (exam_id,),
    )
    return {r.item_id: r for r in rows}


class LiveDifficulty(msgspec.Struct, frozen=True):
    item_id: str
    a: float
    b: list[float]


async def live_difficulties(conn: Conn, item_ids: list[str]) -> dict[str, LiveDifficulty]:
    rows = await fetch_all(
        conn,
        LiveDifficulty,
        "select item_id::text, a, b from content.item_parameters"
        " where item_id = any(%s::uuid[]) and is_live",
        (item_ids,),
    )
    return {r.item_id: r for r in rows}
