"""Reading the live figures (live.*) into answers; cached by version (cache.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection

from apis.analytics.cache import GARBAGE_SECONDS, cache_key, cached
from apis.analytics.schemas import (
    ClassProgress,
    ClassStanding,
    SkillMastery,
    SkillSummary,
    StudentProgress,
    StudentRow,
    ThetaPoint,
)
from apis.state import AppState
from core.errors import NotFound

#: The dbt project's vars `mastery_min_responses` and `mastery_threshold` (a unit test holds
#: them equal), so `is_mastered` means what the mart says.
MASTERY_MIN_RESPONSES: Final = 5
MASTERY_THRESHOLD: Final = 0.8
THETA_HISTORY: Final = 100


def mastery(correct: int, responses: int) -> float:
    return (correct + 1) / (responses + 2)


def is_mastered(correct: int, responses: int) -> bool:
    return responses >= MASTERY_MIN_RESPONSES and mastery(correct, responses) >= MASTERY_THRESHOLD


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


async def student_progress(conn: AsyncConnection[Any], student_id: str) -> StudentProgress:
    cur = await conn.execute(
        "select skill, class_id::text, response_count, correct_count, last_answered_at"
        " from live.skill_mastery where student_id = %s order by skill, class_id",
        (student_id,),
    )
    skills = [
        SkillMastery(
            r["skill"],
            r["class_id"],
            r["response_count"],
            r["correct_count"],
            round(r["correct_count"] / r["response_count"], 4),
            round(mastery(r["correct_count"], r["response_count"]), 4),
            is_mastered(r["correct_count"], r["response_count"]),
            r["last_answered_at"],
        )
        for r in await cur.fetchall()
    ]
    cur = await conn.execute(
        "select * from (select attempt_id::text, exam_id::text, class_id::text, theta, se,"
        " scored_at from live.theta_history where student_id = %s"
        " order by scored_at desc limit %s) h order by scored_at",
        (student_id, THETA_HISTORY),
    )
    history = [
        ThetaPoint(
            r["attempt_id"], r["exam_id"], r["class_id"], r["theta"], r["se"], r["scored_at"]
        )
        for r in await cur.fetchall()
    ]
    cur = await conn.execute(
        "select class_id::text, attempts_completed, scored_attempts, score_pct_sum,"
        " latest_theta, latest_se, works_returned from live.class_students"
        " where student_id = %s order by class_id",
        (student_id,),
    )
    classes = [
        ClassStanding(
            r["class_id"],
            r["attempts_completed"],
            _mean(r["score_pct_sum"], r["scored_attempts"]),
            r["latest_theta"],
            r["latest_se"],
            r["works_returned"],
        )
        for r in await cur.fetchall()
    ]
    return StudentProgress(student_id, skills, history, classes)


async def class_progress(conn: AsyncConnection[Any], class_id: str) -> ClassProgress:
    cur = await conn.execute("select * from live.class_summaries where class_id = %s", (class_id,))
    s = await cur.fetchone() or {}
    cur = await conn.execute(
        "select cs.student_id::text, cs.attempts_completed, cs.scored_attempts,"
        " cs.score_pct_sum, cs.latest_theta, cs.works_returned,"
        " count(m.skill) as skills_assessed,"
        " count(m.skill) filter (where m.response_count >= %s and"
        "   (m.correct_count + 1)::float8 / (m.response_count + 2) >= %s) as skills_mastered"
        " from live.class_students cs left join live.skill_mastery m"
        "   on m.class_id = cs.class_id and m.student_id = cs.student_id"
        " where cs.class_id = %s group by cs.class_id, cs.student_id order by cs.student_id",
        (MASTERY_MIN_RESPONSES, MASTERY_THRESHOLD, class_id),
    )
    students = [
        StudentRow(
            r["student_id"],
            r["attempts_completed"],
            _mean(r["score_pct_sum"], r["scored_attempts"]),
            r["latest_theta"],
            r["skills_assessed"],
            r["skills_mastered"],
            r["works_returned"],
        )
        for r in await cur.fetchall()
    ]
    cur = await conn.execute(
        "select skill, count(*) as students,"
        " avg((correct_count + 1)::float8 / (response_count + 2)) as mean_mastery,"
        " count(*) filter (where response_count >= %s and"
        "   (correct_count + 1)::float8 / (response_count + 2) >= %s) as mastered"
        " from live.skill_mastery where class_id = %s group by skill order by skill",
        (MASTERY_MIN_RESPONSES, MASTERY_THRESHOLD, class_id),
    )
    skills = [
        SkillSummary(r["skill"], r["students"], round(r["mean_mastery"], 4), r["mastered"])
        for r in await cur.fetchall()
    ]
    return ClassProgress(
        class_id=class_id,
        enrolled_students=0,  # from the memberships at each request (ClassFacts)
        active_students=s.get("active_students") or 0,
        attempts_completed=s.get("attempts_completed") or 0,
        mean_score_pct=_mean(s.get("score_pct_sum") or 0.0, s.get("scored_attempts") or 0),
        theta_students=s.get("theta_students") or 0,
        mean_theta=_mean(s.get("theta_sum") or 0.0, s.get("theta_students") or 0),
        works_returned=s.get("works_returned") or 0,
        mean_points=_mean(s.get("points_sum") or 0.0, s.get("works_returned") or 0),
        last_event_at=s.get("last_event_at"),
        students=students,
        skills=skills,
    )


@dataclass(frozen=True, slots=True)
class ClassFacts:
    """What a class request needs before its figures, read in one query: the teacher (for the
    policy), the cache version (read before the cache, so never stale) and the enrolment (not
    the analytics consumer's events: never cached)."""

    teacher_id: str
    version: int
    enrolled: int


async def class_facts(state: AppState, class_id: str) -> ClassFacts:
    """The class's facts; 404 naming the class when there is none."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select c.teacher_id::text as teacher_id, coalesce(v.version, 0) as version,"
            " (select count(*) from classes.memberships m where m.class_id = c.class_id)"
            " as enrolled from classes.classes c left join live.cache_versions v"
            " on v.scope = 'class' and v.id = c.class_id where c.class_id = %s",
            (class_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"class_id: no class {class_id}")
    return ClassFacts(str(row["teacher_id"]), int(row["version"]), int(row["enrolled"]))


async def my_progress(state: AppState, student_id: str) -> StudentProgress:
    async with state.pool.connection() as conn:
        if not state.settings.analytics_cache:
            return await student_progress(conn, student_id)
        return await cached(
            conn, state.redis, "student", student_id, StudentProgress,
            lambda: student_progress(conn, student_id),
        )  # fmt: skip


async def progress_of_class(state: AppState, class_id: str, facts: ClassFacts) -> ClassProgress:
    """The class's figures at `facts.version` (from the cache when it holds them)."""
    if state.settings.analytics_cache:
        raw = await state.redis.get(cache_key("class", class_id, facts.version))
        if raw is not None:
            progress = msgspec.json.decode(raw, type=ClassProgress)
            return msgspec.structs.replace(progress, enrolled_students=facts.enrolled)
    async with state.pool.connection() as conn:
        progress = await class_progress(conn, class_id)
    if state.settings.analytics_cache:
        await state.redis.set(
            cache_key("class", class_id, facts.version),
            msgspec.json.encode(progress),
            ex=GARBAGE_SECONDS,
        )
    return msgspec.structs.replace(progress, enrolled_students=facts.enrolled)
