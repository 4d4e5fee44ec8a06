"""The `analytics` consumer: live learner analytics kept up to date from the exam and assignment
events, a second consumer group beside `notifications` on the same streams (core.consumers).

The batch's effects run inside the consumer's batch transaction, so each event's happens exactly
once; each kind of effect is applied set-wise to the batch's events of its type (a few statements
per batch: the batch's counts and sums are added to the rows in one upsert):

| event | effect |
|---|---|
| `exams.response.recorded.v1` | the student's evidence per skill of the item, in the exam's class (`live.skill_mastery`) |
| `exams.attempt.completed.v1` | the class's completed attempts and score fractions (`live.class_students`, `live.class_summaries`) |
| `exams.attempt.scored.v1` | the θ history (`live.theta_history`) and the class's mean latest θ |
| `assignments.work.returned.v1` | the class's returned works and points |

A group made on a platform with history starts from the OLTP tables (rebuild.py). The
definitions follow the dbt marts (`fct_student_skill_mastery`, `agg_class_performance`), so
the nightly check `live_analytics_match_marts` can compare the two. Every batch also bumps the
cache version of the students and classes it touched (`live.cache_versions`) in the same
transaction: the API's Redis cache is keyed by that version, so an answer is never served from
before the change (apis/analytics/cache.py); after the commit the superseded keys are deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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
#: An effect takes the batch's payloads of its event type, in stream order, and applies them
#: set-wise (a few statements per batch, whatever its size) with the result they would have one
#: by one.
Effect = Callable[[AsyncConnection[Any], list[dict[str, Any]]], Awaitable[Touched]]


async def response_recorded(conn: AsyncConnection[Any], ps: list[dict[str, Any]]) -> Touched:
    """Responses: +1 response (and +1 correct) for each distinct skill of the item, in the class
    of the exam (as `int_responses__enriched` joins it)."""
    cur = await conn.execute(
        "select e.ord, i.skills, x.class_id::text as class_id"
        " from unnest(%s::uuid[], %s::uuid[]) with ordinality as e(item_id, exam_id, ord)"
        " join content.items i on i.item_id = e.item_id"
        " join exams.exams x on x.exam_id = e.exam_id",
        ([p["item_id"] for p in ps], [p["exam_id"] for p in ps]),
    )
    found = {int(r["ord"]): r for r in await cur.fetchall()}
    rows: list[tuple[Any, ...]] = []
    touched: Touched = set()
    for n, p in enumerate(ps, 1):
        row = found.get(n)
        if row is None:
            raise LookupError(f"response to unknown item {p['item_id']} or exam {p['exam_id']}")
        skills = sorted({s for s in row["skills"] or [] if s})
        if not skills:
            continue
        correct = bool(p["is_correct"])
        rows += [(p["student_id"], row["class_id"], s, correct, p["answered_at"]) for s in skills]
        touched.add(("student", p["student_id"]))
        if row["class_id"]:
            touched.add(("class", row["class_id"]))
    if rows:
        await conn.execute(
            "insert into live.skill_mastery as m (student_id, class_id, skill, response_count,"
            " correct_count, first_answered_at, last_answered_at)"
            " select student_id, class_id, skill, count(*), count(*) filter (where is_correct),"
            " min(answered_at), max(answered_at)"
            " from unnest(%s::uuid[], %s::uuid[], %s::text[], %s::bool[], %s::timestamptz[])"
            "  as r(student_id, class_id, skill, is_correct, answered_at)"
            " group by student_id, class_id, skill order by student_id, class_id, skill"
            " on conflict (student_id, class_id, skill) do update set"
            " response_count = m.response_count + excluded.response_count,"
            " correct_count = m.correct_count + excluded.correct_count,"
            " first_answered_at = least(m.first_answered_at, excluded.first_answered_at),"
            " last_answered_at = greatest(m.last_answered_at, excluded.last_answered_at),"
            " updated_at = now()",
            [list(column) for column in zip(*rows, strict=True)],
        )
    return touched


# The (class, student) rows of a batch's completed attempts, counted and summed; then the classes'
# rows with the sums, and as active students those whose first completed attempts these are (the
# row's count after the update is the batch's own).
_COMPLETED_SQL = """
with e as (
    select * from unnest(%s::uuid[], %s::uuid[], %s::float8[], %s::float8[], %s::timestamptz[])
        as e(class_id, student_id, raw_score, max_score, completed_at)),
per_student as (
    select class_id, student_id, count(*)::int as n,
        count(*) filter (where max_score > 0)::int as scored,
        coalesce(sum(raw_score / max_score) filter (where max_score > 0), 0) as pct,
        max(completed_at) as at
    from e group by class_id, student_id),
students as (
    insert into live.class_students as cs (class_id, student_id, attempts_completed,
        scored_attempts, score_pct_sum, last_completed_at)
    select class_id, student_id, n, scored, pct, at from per_student
    order by class_id, student_id
    on conflict (class_id, student_id) do update set
        attempts_completed = cs.attempts_completed + excluded.attempts_completed,
        scored_attempts = cs.scored_attempts + excluded.scored_attempts,
        score_pct_sum = cs.score_pct_sum + excluded.score_pct_sum,
        last_completed_at = greatest(cs.last_completed_at, excluded.last_completed_at)
    returning class_id, student_id, attempts_completed)
insert into live.class_summaries as s (class_id, active_students, attempts_completed,
    scored_attempts, score_pct_sum, last_event_at)
select p.class_id, count(*) filter (where st.attempts_completed = p.n), sum(p.n), sum(p.scored),
    sum(p.pct), max(p.at)
from per_student p join students st using (class_id, student_id)
group by p.class_id order by p.class_id
on conflict (class_id) do update set
    active_students = s.active_students + excluded.active_students,
    attempts_completed = s.attempts_completed + excluded.attempts_completed,
    scored_attempts = s.scored_attempts + excluded.scored_attempts,
    score_pct_sum = s.score_pct_sum + excluded.score_pct_sum,
    last_event_at = greatest(s.last_event_at, excluded.last_event_at),
    updated_at = now()
"""


async def attempt_completed(conn: AsyncConnection[Any], ps: list[dict[str, Any]]) -> Touched:
    """Completed attempts of a class's exam: their count, and their score fractions when they
    have a maximum (`fct_exam_attempts.score_pct` is null otherwise)."""
    touched: Touched = {("student", p["student_id"]) for p in ps}
    in_class = [p for p in ps if p.get("class_id")]
    if not in_class:
        return touched
    await conn.execute(
        _COMPLETED_SQL,
        (
            [p["class_id"] for p in in_class],
            [p["student_id"] for p in in_class],
            [float(p["raw_score"]) for p in in_class],
            [float(p["max_score"]) for p in in_class],
            [p["completed_at"] for p in in_class],
        ),
    )
    return touched | {("class", p["class_id"]) for p in in_class}


async def _class_students(conn: AsyncConnection[Any], pairs: list[tuple[str, str]]) -> None:
    """Make sure the (class, student) and class rows exist."""
    await conn.execute(
        "insert into live.class_summaries (class_id)"
        " select distinct unnest(%s::uuid[]) order by 1 on conflict do nothing",
        ([c for c, _ in pairs],),
    )
    await conn.execute(
        "insert into live.class_students (class_id, student_id)"
        " select distinct * from unnest(%s::uuid[], %s::uuid[]) order by 1, 2"
        " on conflict do nothing",
        ([c for c, _ in pairs], [s for _, s in pairs]),
    )


async def attempt_scored(conn: AsyncConnection[Any], ps: list[dict[str, Any]]) -> Touched:
    """The attempts' θ and SE join the history; in a class, a student's latest θ replaces the
    previous one in the class's mean (of several in one batch, the latest; an older attempt
    scored late leaves the latest estimate as it is)."""
    cur = await conn.execute(
        "insert into live.theta_history (attempt_id, student_id, exam_id, class_id, theta, se,"
        " scored_at) select * from unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[],"
        "  %s::float8[], %s::float8[], %s::timestamptz[])"
        " on conflict do nothing returning attempt_id::text",
        (
            [p["attempt_id"] for p in ps],
            [p["student_id"] for p in ps],
            [p["exam_id"] for p in ps],
            [p.get("class_id") for p in ps],
            [float(p["theta"]) for p in ps],
            [float(p["se"]) for p in ps],
            [p["completed_at"] for p in ps],
        ),
    )
    inserted = {r["attempt_id"] for r in await cur.fetchall()}
    touched: Touched = {("student", p["student_id"]) for p in ps}
    latest: dict[tuple[str, str], dict[str, Any]] = {}  # (class, student) -> her latest
    for p in ps:
        attempt = str(p["attempt_id"]).lower()
        if attempt not in inserted or not p.get("class_id"):
            continue
        inserted.discard(attempt)  # the same attempt twice: the first counts, as stored
        key = (p["class_id"], p["student_id"])
        if key not in latest or _at(p["completed_at"]) >= _at(latest[key]["completed_at"]):
            latest[key] = p
    if not latest:
        return touched
    pairs = sorted(latest)
    await _class_students(conn, pairs)
    cur = await conn.execute(
        "select cs.class_id::text, cs.student_id::text, cs.latest_theta, cs.latest_theta_at"
        " from live.class_students cs join unnest(%s::uuid[], %s::uuid[]) as k(class_id,"
        "  student_id) on cs.class_id = k.class_id and cs.student_id = k.student_id"
        " order by cs.class_id, cs.student_id for update of cs",
        ([c for c, _ in pairs], [s for _, s in pairs]),
    )
    before = {(r["class_id"], r["student_id"]): r for r in await cur.fetchall()}
    changes: list[tuple[Any, ...]] = []
    for key in pairs:
        p, old = latest[key], before.get((key[0].lower(), key[1].lower()), {})
        if old.get("latest_theta_at") is not None and old["latest_theta_at"] > _at(
            p["completed_at"]
        ):
            continue  # an older attempt scored late: the latest estimate stays
        theta = float(p["theta"])
        changes.append(
            (
                key[0],
                key[1],
                theta,
                float(p["se"]),
                p["completed_at"],
                0 if old.get("latest_theta") is not None else 1,
                theta - (old.get("latest_theta") or 0.0),
            )
        )
        touched.add(("class", key[0]))
    if not changes:
        return touched
    columns = [list(column) for column in zip(*changes, strict=True)]
    await conn.execute(
        "update live.class_students cs set latest_theta = c.theta, latest_se = c.se,"
        " latest_theta_at = c.at from unnest(%s::uuid[], %s::uuid[], %s::float8[],"
        "  %s::float8[], %s::timestamptz[]) as c(class_id, student_id, theta, se, at)"
        " where cs.class_id = c.class_id and cs.student_id = c.student_id",
        columns[:5],
    )
    await conn.execute(
        "update live.class_summaries s set theta_students = s.theta_students + c.students,"
        " theta_sum = s.theta_sum + c.delta, last_event_at = greatest(s.last_event_at, c.at),"
        " updated_at = now()"
        " from (select class_id, sum(students)::int as students, sum(delta) as delta,"
        "   max(at) as at from unnest(%s::uuid[], %s::timestamptz[], %s::int[], %s::float8[])"
        "   as c(class_id, at, students, delta) group by class_id) c"
        " where s.class_id = c.class_id",
        (columns[0], columns[4], columns[5], columns[6]),
    )
    return touched


async def work_returned(conn: AsyncConnection[Any], ps: list[dict[str, Any]]) -> Touched:
    """Returned works: per student of the class, and the class's count and points."""
    await conn.execute(
        "with e as (select * from unnest(%s::uuid[], %s::uuid[], %s::float8[],"
        "  %s::timestamptz[]) as e(class_id, student_id, points, changed_at)),"
        " students as (insert into live.class_students as cs (class_id, student_id,"
        "  works_returned) select class_id, student_id, count(*) from e"
        "  group by class_id, student_id order by class_id, student_id"
        "  on conflict (class_id, student_id) do update"
        "  set works_returned = cs.works_returned + excluded.works_returned)"
        " insert into live.class_summaries as s (class_id, works_returned, points_sum,"
        "  last_event_at) select class_id, count(*), sum(points), max(changed_at) from e"
        "  group by class_id order by class_id"
        " on conflict (class_id) do update set works_returned = s.works_returned"
        "  + excluded.works_returned, points_sum = s.points_sum + excluded.points_sum,"
        "  last_event_at = greatest(s.last_event_at, excluded.last_event_at),"
        "  updated_at = now()",
        (
            [p["class_id"] for p in ps],
            [p["student_id"] for p in ps],
            [float(p.get("points_awarded") or 0.0) for p in ps],
            [p["changed_at"] for p in ps],
        ),
    )
    return {("student", p["student_id"]) for p in ps} | {("class", p["class_id"]) for p in ps}


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


EFFECTS: Final[dict[str, Effect]] = {
    "exams.response.recorded.v1": response_recorded,
    "exams.attempt.completed.v1": attempt_completed,
    "exams.attempt.scored.v1": attempt_scored,
    "assignments.work.returned.v1": work_returned,
}


async def bump_versions(conn: AsyncConnection[Any], touched: Touched) -> list[tuple[str, str, int]]:
    """New cache versions of what changed (in the batch's transaction, one statement); returns
    the superseded (scope, id, version) whose cached answers may now be deleted."""
    if not touched:
        return []
    keys = sorted(touched)
    cur = await conn.execute(
        "insert into live.cache_versions as v (scope, id)"
        " select * from unnest(%s::text[], %s::uuid[]) order by 1, 2"
        " on conflict (scope, id) do update set version = v.version + 1"
        " returning scope, id::text, version",
        ([scope for scope, _ in keys], [key for _, key in keys]),
    )
    return [
        (r["scope"], r["id"], int(r["version"]) - 1)
        for r in await cur.fetchall()
        if r["version"] > 1
    ]


def consumer(redis: Redis) -> ConsumerSpec:
    """The analytics consumer over the exams and assignments streams: each effect once per
    batch, on the batch's events of its type; one cache-version bump for all they touched."""

    async def handle_batch(
        conn: AsyncConnection[Any], events: Sequence[StreamEvent]
    ) -> Callable[[], Awaitable[None]] | None:
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            if event.event_type in EFFECTS:
                by_type.setdefault(event.event_type, []).append(event.payload)
        touched: Touched = set()
        for event_type, effect in EFFECTS.items():
            if event_type in by_type:
                touched |= await effect(conn, by_type[event_type])
        stale = await bump_versions(conn, touched)
        if not stale:
            return None

        async def forget() -> None:  # the versions moved on: these keys can no longer be read
            await redis.delete(*(cache_key(scope, key, v) for scope, key, v in stale))

        return forget

    async def from_history(conn: AsyncConnection[Any]) -> None:
        await rebuild(conn, NAME, list(EFFECTS))

    return ConsumerSpec(NAME, DOMAINS, handle_batch, on_new_group=from_history)
