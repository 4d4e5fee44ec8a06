"""The `analytics` consumer: live learner analytics kept up to date from the exam and assignment
events, a second consumer group beside `notifications` on the same streams (core.consumers).

Each event's effect runs inside the consumer's batch transaction, so it happens exactly once:

| event | effect |
|---|---|
| `exams.response.recorded.v1` | the student's evidence per skill of the item, in the exam's class (`live.skill_mastery`) |
| `exams.attempt.completed.v1` | the class's completed attempts and score fractions (`live.class_students`, `live.class_summaries`) |
| `exams.attempt.scored.v1` | the θ history (`live.theta_history`) and the class's mean latest θ |
| `assignments.work.returned.v1` | the class's returned works and points |

A group made on a platform with history starts from the OLTP tables (rebuild.py). The
definitions follow the dbt marts (`fct_student_skill_mastery`, `agg_class_performance`), so
the nightly check `live_analytics_match_marts` can compare the two. Every change also bumps the
cache version of the student and class it touched (`live.cache_versions`) in the same
transaction: the API's Redis cache is keyed by that version, so an answer is never served from
before the change (apis/analytics/cache.py); after the commit the superseded keys are deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection
from redis.asyncio import Redis

from apis.analytics.cache import cache_key
from apis.analytics.rebuild import rebuild
from core.consumers import ConsumerSpec, StreamEvent

NAME: Final = "analytics"
DOMAINS: Final = ("exams", "assignments")

Touched = set[tuple[str, str]]  # (scope, id) whose figures changed
Effect = Callable[[AsyncConnection[Any], dict[str, Any]], Awaitable[Touched]]


async def response_recorded(conn: AsyncConnection[Any], p: dict[str, Any]) -> Touched:
    """One response: +1 response (and +1 correct) for each skill of the item, in the class of
    the exam (as `int_responses__enriched` joins it)."""
    cur = await conn.execute(
        "select i.skills, e.class_id::text as class_id from content.items i"
        " cross join exams.exams e where i.item_id = %s and e.exam_id = %s",
        (p["item_id"], p["exam_id"]),
    )
    row = await cur.fetchone()
    if row is None:
        raise LookupError(f"response to unknown item {p['item_id']} or exam {p['exam_id']}")
    skills = sorted({s for s in row["skills"] or [] if s})
    if not skills:
        return set()
    correct = 1 if p["is_correct"] else 0
    await conn.execute(
        "insert into live.skill_mastery as m (student_id, class_id, skill, response_count,"
        " correct_count, first_answered_at, last_answered_at)"
        " select %s::uuid, %s::uuid, skill, 1, %s::int, %s::timestamptz, %s::timestamptz"
        " from unnest(%s::text[]) as skill"
        " on conflict (student_id, class_id, skill) do update set"
        " response_count = m.response_count + 1,"
        " correct_count = m.correct_count + excluded.correct_count,"
        " first_answered_at = least(m.first_answered_at, excluded.first_answered_at),"
        " last_answered_at = greatest(m.last_answered_at, excluded.last_answered_at),"
        " updated_at = now()",
        (
            p["student_id"],
            row["class_id"],
            correct,
            p["answered_at"],
            p["answered_at"],
            skills,
        ),
    )
    touched = {("student", p["student_id"])}
    if row["class_id"]:
        touched.add(("class", row["class_id"]))
    return touched


async def _class_student(conn: AsyncConnection[Any], class_id: str, student_id: str) -> bool:
    """Make sure the (class, student) and class rows exist; True when she is new to the class's
    active students (first completed attempt)."""
    await conn.execute(
        "insert into live.class_summaries (class_id) values (%s) on conflict do nothing",
        (class_id,),
    )
    cur = await conn.execute(
        "insert into live.class_students (class_id, student_id) values (%s, %s)"
        " on conflict do nothing returning 1",
        (class_id, student_id),
    )
    return await cur.fetchone() is not None


async def attempt_completed(conn: AsyncConnection[Any], p: dict[str, Any]) -> Touched:
    """A completed attempt of a class's exam: its count, and its score fraction when it has a
    maximum (`fct_exam_attempts.score_pct` is null otherwise)."""
    touched = {("student", p["student_id"])}
    class_id = p.get("class_id")
    if not class_id:
        return touched
    await _class_student(conn, class_id, p["student_id"])
    max_score = p["max_score"]
    scored = 1 if max_score > 0 else 0
    pct = p["raw_score"] / max_score if max_score > 0 else 0.0
    cur = await conn.execute(
        "update live.class_students set attempts_completed = attempts_completed + 1,"
        " scored_attempts = scored_attempts + %s, score_pct_sum = score_pct_sum + %s,"
        " last_completed_at = greatest(last_completed_at, %s)"
        " where class_id = %s and student_id = %s returning attempts_completed",
        (scored, pct, p["completed_at"], class_id, p["student_id"]),
    )
    first = (await cur.fetchone() or {}).get("attempts_completed") == 1
    await conn.execute(
        "update live.class_summaries set active_students = active_students + %s,"
        " attempts_completed = attempts_completed + 1, scored_attempts = scored_attempts + %s,"
        " score_pct_sum = score_pct_sum + %s, last_event_at = greatest(last_event_at, %s),"
        " updated_at = now() where class_id = %s",
        (1 if first else 0, scored, pct, p["completed_at"], class_id),
    )
    return touched | {("class", class_id)}


async def attempt_scored(conn: AsyncConnection[Any], p: dict[str, Any]) -> Touched:
    """The attempt's θ and SE join her history; in a class, her latest θ replaces the previous
    one in the class's mean."""
    cur = await conn.execute(
        "insert into live.theta_history (attempt_id, student_id, exam_id, class_id, theta, se,"
        " scored_at) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing returning 1",
        (
            p["attempt_id"],
            p["student_id"],
            p["exam_id"],
            p.get("class_id"),
            p["theta"],
            p["se"],
            p["completed_at"],
        ),
    )
    touched = {("student", p["student_id"])}
    class_id = p.get("class_id")
    if await cur.fetchone() is None or not class_id:
        return touched
    await _class_student(conn, class_id, p["student_id"])
    cur = await conn.execute(
        "select latest_theta, latest_theta_at from live.class_students"
        " where class_id = %s and student_id = %s for update",
        (class_id, p["student_id"]),
    )
    before = await cur.fetchone() or {}
    old, old_at = before.get("latest_theta"), before.get("latest_theta_at")
    if old_at is not None and old_at > _at(p["completed_at"]):
        return touched  # an older attempt scored late: the latest estimate stays
    await conn.execute(
        "update live.class_students set latest_theta = %s, latest_se = %s, latest_theta_at = %s"
        " where class_id = %s and student_id = %s",
        (p["theta"], p["se"], p["completed_at"], class_id, p["student_id"]),
    )
    await conn.execute(
        "update live.class_summaries set theta_students = theta_students + %s,"
        " theta_sum = theta_sum + %s, last_event_at = greatest(last_event_at, %s),"
        " updated_at = now() where class_id = %s",
        (
            0 if old is not None else 1,
            p["theta"] - (old or 0.0),
            p["completed_at"],
            class_id,
        ),
    )
    return touched | {("class", class_id)}


async def work_returned(conn: AsyncConnection[Any], p: dict[str, Any]) -> Touched:
    class_id = p["class_id"]
    await _class_student(conn, class_id, p["student_id"])
    await conn.execute(
        "update live.class_students set works_returned = works_returned + 1"
        " where class_id = %s and student_id = %s",
        (class_id, p["student_id"]),
    )
    await conn.execute(
        "update live.class_summaries set works_returned = works_returned + 1,"
        " points_sum = points_sum + %s, last_event_at = greatest(last_event_at, %s),"
        " updated_at = now() where class_id = %s",
        (p.get("points_awarded") or 0.0, p["changed_at"], class_id),
    )
    return {("student", p["student_id"]), ("class", class_id)}


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


EFFECTS: Final[dict[str, Effect]] = {
    "exams.response.recorded.v1": response_recorded,
    "exams.attempt.completed.v1": attempt_completed,
    "exams.attempt.scored.v1": attempt_scored,
    "assignments.work.returned.v1": work_returned,
}


async def bump_versions(conn: AsyncConnection[Any], touched: Touched) -> list[tuple[str, str, int]]:
    """New cache versions of what changed (in the event's transaction); returns the superseded
    (scope, id, version) whose cached answers may now be deleted."""
    old: list[tuple[str, str, int]] = []
    for scope, key in sorted(touched):
        cur = await conn.execute(
            "insert into live.cache_versions as v (scope, id) values (%s, %s)"
            " on conflict (scope, id) do update set version = v.version + 1 returning version",
            (scope, key),
        )
        row = await cur.fetchone()
        if row is not None and row["version"] > 1:
            old.append((scope, key, int(row["version"]) - 1))
    return old


def consumer(redis: Redis) -> ConsumerSpec:
    """The analytics consumer over the exams and assignments streams."""

    async def handle(
        conn: AsyncConnection[Any], event: StreamEvent
    ) -> Callable[[], Awaitable[None]] | None:
        effect = EFFECTS.get(event.event_type)
        if effect is None:
            return None
        stale = await bump_versions(conn, await effect(conn, event.payload))
        if not stale:
            return None

        async def forget() -> None:  # the versions moved on: these keys can no longer be read
            await redis.delete(*(cache_key(scope, key, v) for scope, key, v in stale))

        return forget

    async def from_history(conn: AsyncConnection[Any]) -> None:
        await rebuild(conn, NAME, list(EFFECTS))

    return ConsumerSpec(NAME, DOMAINS, handle, on_new_group=from_history)
