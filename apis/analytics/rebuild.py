"""Rebuild the live figures from the OLTP tables, for a consumer group made after history began.

A new consumer group reads only new events, so the analytics consumer, started on a platform that
already has history, would miss it. When `dreamseed consume analytics` makes its group, it runs
`rebuild` first, in one transaction after the group exists: the live tables are recomputed from
the stored responses, attempts and returned work, and every outbox event of the handled types that
the same snapshot sees is recorded in `realtime.processed` — those events are in the rebuilt
figures, so when the relay delivers one of them to the new group it is skipped; an event the
snapshot does not see is delivered after the group was made and counted then. No event counts
twice, none is missed.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg import AsyncConnection

_STEPS: Final = (
    "delete from live.skill_mastery",
    "delete from live.theta_history",
    "delete from live.class_students",
    "delete from live.class_summaries",
    # As the consumer counts them: each response, once per distinct skill of its item, in the
    # exam's class (fct_student_skill_mastery).
    """insert into live.skill_mastery (student_id, class_id, skill, response_count, correct_count,
        first_answered_at, last_answered_at)
    select a.student_id, e.class_id, s.skill, count(*), count(*) filter (where r.is_correct),
           min(r.answered_at), max(r.answered_at)
    from exams.responses r
    join exams.attempts a on a.attempt_id = r.attempt_id
    join exams.exams e on e.exam_id = a.exam_id
    join content.items i on i.item_id = r.item_id
    cross join lateral (select distinct unnest(i.skills) as skill) s
    where s.skill is not null and s.skill <> ''
    group by a.student_id, e.class_id, s.skill""",
    """insert into live.theta_history (attempt_id, student_id, exam_id, class_id, theta, se,
        scored_at)
    select a.attempt_id, a.student_id, a.exam_id, e.class_id, a.theta, a.se, a.completed_at
    from exams.attempts a join exams.exams e on e.exam_id = a.exam_id
    where a.status = 'completed' and a.theta is not null and a.se is not null""",
    """insert into live.class_students (class_id, student_id, attempts_completed, scored_attempts,
        score_pct_sum, last_completed_at)
    select e.class_id, a.student_id, count(*), count(*) filter (where a.max_score > 0),
           coalesce(sum(a.raw_score::float8 / a.max_score) filter (where a.max_score > 0), 0),
           max(a.completed_at)
    from exams.attempts a join exams.exams e on e.exam_id = a.exam_id
    where a.status = 'completed' and e.class_id is not null
    group by e.class_id, a.student_id""",
    """update live.class_students cs set latest_theta = t.theta, latest_se = t.se,
        latest_theta_at = t.scored_at
    from (select distinct on (class_id, student_id) class_id, student_id, theta, se, scored_at
          from live.theta_history where class_id is not null
          order by class_id, student_id, scored_at desc) t
    where cs.class_id = t.class_id and cs.student_id = t.student_id""",
    """insert into live.class_students (class_id, student_id, works_returned)
    select a.class_id, w.student_id, count(*)
    from assignments.work w join assignments.assignments a on a.assignment_id = w.assignment_id
    where w.returned_at is not null
    group by a.class_id, w.student_id
    on conflict (class_id, student_id) do update set works_returned = excluded.works_returned""",
    """insert into live.class_summaries (class_id, active_students, attempts_completed,
        scored_attempts, score_pct_sum, theta_students, theta_sum, works_returned, points_sum,
        last_event_at)
    select cs.class_id, count(*) filter (where cs.attempts_completed > 0),
           sum(cs.attempts_completed), sum(cs.scored_attempts), sum(cs.score_pct_sum),
           count(cs.latest_theta), coalesce(sum(cs.latest_theta), 0), sum(cs.works_returned),
           coalesce((select sum(w.points_awarded) from assignments.work w
                     join assignments.assignments a on a.assignment_id = w.assignment_id
                     where a.class_id = cs.class_id and w.returned_at is not null), 0),
           max(greatest(cs.last_completed_at, cs.latest_theta_at))
    from live.class_students cs group by cs.class_id""",
    # Every answer cached before is superseded.
    "update live.cache_versions set version = version + 1",
    """insert into live.cache_versions (scope, id)
    select 'student', student_id from live.class_students
    union select 'student', student_id from live.skill_mastery
    union select 'student', student_id from live.theta_history
    union select 'class', class_id from live.class_summaries
    on conflict do nothing""",
)


async def rebuild(conn: AsyncConnection[Any], consumer: str, event_types: list[str]) -> int:
    """Recompute the live tables in one snapshot and mark the events of `event_types` it covers
    as processed by `consumer`;
    returns how many events it marked. Run as the first statement of a transaction, after the group
    exists (by the member that made it)."""
    await conn.execute("set transaction isolation level repeatable read")
    for step in _STEPS:
        await conn.execute(step)
    cur = await conn.execute(
        "insert into realtime.processed (consumer, event_id)"
        " select %s, event_id from events.outbox where event_type = any(%s)"
        " on conflict do nothing",
        (consumer, event_types),
    )
    return cur.rowcount
