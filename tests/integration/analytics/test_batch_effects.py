"""The analytics consumer applies a batch set-wise (one upsert per kind of effect, the batch's
counts and sums added at once): on real PostgreSQL, the same events handled one per transaction
in one school and as one batch in a twin school leave the same live figures — skill counts with a
class and without, completed attempts (a student's first after a returned work: one active
student), scores without a maximum, θ with an older attempt scored late and a redelivered
attempt, returned works with and without points. And a batch with one bad event fails whole (the
consumer then retries it event by event)."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from redis.asyncio import Redis

from apis.analytics.consumer import consumer
from core.consumers import StreamEvent
from core.db import Pool, create_pool
from core.settings import Settings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    p = create_pool(settings.database_url, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


def school(conn: psycopg.Connection[Any], items: list[str]) -> dict[str, str]:
    """A teacher, three students, a class with its exam, and an exam of no class."""
    ids = {k: str(uuid.uuid4()) for k in ("teacher", "s1", "s2", "s3", "class", "exam", "free")}
    for key, role in (("teacher", "teacher"), ("s1", "student"), ("s2", "student"),
                      ("s3", "student")):  # fmt: skip
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Batch', %s, 'x')",
            (ids[key], f"{ids[key]}@batch.test", role),
        )
    conn.execute(
        "insert into classes.classes (class_id, name, teacher_id, join_code)"
        " values (%s, 'Batch', %s, %s)",
        (ids["class"], ids["teacher"], secrets.token_hex(5)),
    )
    for key, class_id in (("exam", ids["class"]), ("free", None)):
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Batch', %s::uuid[])",
            (ids[key], ids["teacher"], class_id, items),
        )
    return ids


def events(ids: dict[str, str], items: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The same history for any school: (event type, payload) in stream order."""
    c, s1, s2, s3 = ids["class"], ids["s1"], ids["s2"], ids["s3"]
    at = [(T0 + timedelta(minutes=m)).isoformat() for m in range(60)]
    a1, a2, a3, a4, a5 = (str(uuid.uuid5(uuid.NAMESPACE_URL, ids["class"] + n)) for n in "12345")
    out: list[tuple[str, dict[str, Any]]] = [
        ("assignments.work.returned.v1",
         {"class_id": c, "student_id": s1, "points_awarded": 7.5, "changed_at": at[1]}),
    ]  # fmt: skip
    for n, (student, exam) in enumerate(((s1, "exam"), (s2, "exam"), (s1, "free"), (s3, "exam"))):
        for k, item in enumerate(items):
            out.append(
                (
                    "exams.response.recorded.v1",
                    {
                        "student_id": student,
                        "item_id": item,
                        "exam_id": ids[exam],
                        "is_correct": (n + k) % 2 == 0,
                        "answered_at": at[(7 * n + 3 * k) % 50],
                    },
                )
            )
    completed = "exams.attempt.completed.v1"
    scored = "exams.attempt.scored.v1"
    out += [
        (completed, {"class_id": c, "student_id": s1, "raw_score": 2, "max_score": 3,
                     "completed_at": at[10], "attempt_id": a1, "exam_id": ids["exam"]}),
        (completed, {"class_id": c, "student_id": s1, "raw_score": 3, "max_score": 3,
                     "completed_at": at[20], "attempt_id": a2, "exam_id": ids["exam"]}),
        (completed, {"class_id": c, "student_id": s2, "raw_score": 0, "max_score": 0,
                     "completed_at": at[12], "attempt_id": a3, "exam_id": ids["exam"]}),
        (completed, {"class_id": None, "student_id": s3, "raw_score": 1, "max_score": 2,
                     "completed_at": at[13], "attempt_id": a4, "exam_id": ids["free"]}),
        (scored, {"class_id": c, "student_id": s1, "attempt_id": a2, "exam_id": ids["exam"],
                  "theta": 0.9, "se": 0.3, "completed_at": at[20]}),
        # an older attempt scored late: her latest θ stays 0.9
        (scored, {"class_id": c, "student_id": s1, "attempt_id": a1, "exam_id": ids["exam"],
                  "theta": 0.1, "se": 0.5, "completed_at": at[10]}),
        (scored, {"class_id": c, "student_id": s2, "attempt_id": a3, "exam_id": ids["exam"],
                  "theta": -0.4, "se": 0.4, "completed_at": at[12]}),
        # the same attempt again (another event): stored once, counted once
        (scored, {"class_id": c, "student_id": s2, "attempt_id": a3, "exam_id": ids["exam"],
                  "theta": -0.4, "se": 0.4, "completed_at": at[12]}),
        (scored, {"class_id": None, "student_id": s3, "attempt_id": a4, "exam_id": ids["free"],
                  "theta": 1.2, "se": 0.6, "completed_at": at[13]}),
        # s2's later attempt: her latest θ moves from -0.4 to 0.2
        (scored, {"class_id": c, "student_id": s2, "attempt_id": a5, "exam_id": ids["exam"],
                  "theta": 0.2, "se": 0.3, "completed_at": at[40]}),
        ("assignments.work.returned.v1",
         {"class_id": c, "student_id": s1, "points_awarded": 2, "changed_at": at[30]}),
        ("assignments.work.returned.v1",
         {"class_id": c, "student_id": s3, "points_awarded": None, "changed_at": at[31]}),
    ]  # fmt: skip
    return out


def stream_events(history: list[tuple[str, dict[str, Any]]]) -> list[StreamEvent]:
    return [
        StreamEvent(f"{n}-0", "events.test", str(uuid.uuid4()), t, "", T0, p)
        for n, (t, p) in enumerate(history)
    ]


def figures(settings: Settings, ids: dict[str, str]) -> dict[str, Any]:
    """The school's live rows, its own ids replaced by their names."""
    names = {v: k for k, v in ids.items()}
    students = [ids[k] for k in ("s1", "s2", "s3")]
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        q = {
            "mastery": "select student_id::text, class_id::text, skill, response_count,"
            " correct_count, first_answered_at, last_answered_at from live.skill_mastery"
            " where student_id = any(%(s)s)",
            "theta": "select student_id::text, exam_id::text, class_id::text, theta, se,"
            " scored_at from live.theta_history where student_id = any(%(s)s)",
            "students": "select class_id::text, student_id::text, attempts_completed,"
            " scored_attempts, score_pct_sum, works_returned, latest_theta, latest_se,"
            " latest_theta_at, last_completed_at from live.class_students"
            " where student_id = any(%(s)s)",
            "classes": "select class_id::text, active_students, attempts_completed,"
            " scored_attempts, score_pct_sum, theta_students, theta_sum, works_returned,"
            " points_sum, last_event_at from live.class_summaries where class_id = %(c)s",
        }
        out: dict[str, Any] = {}
        for name, sql in q.items():
            rows = conn.execute(sql, {"s": students, "c": ids["class"]}).fetchall()
            out[name] = sorted(
                (tuple(names.get(v, v) if isinstance(v, str) else v for v in r.values())
                 for r in rows),
                key=repr,
            )  # fmt: skip
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def test_a_batch_leaves_what_its_events_leave_one_by_one(
    settings: Settings, pool: Pool
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        teacher = str(uuid.uuid4())
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Items', 'teacher', 'x')",
            (teacher, f"{teacher}@batch.test"),
        )
        items = [str(uuid.uuid4()) for _ in range(3)]
        for item, skills in zip(items, (["frac", "add"], ["frac", "frac"], []), strict=True):
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key,"
                " skills) values (%s, %s, 'Half?', '[\"1\", \"2\"]', 0, %s)",
                (item, teacher, skills),
            )
        single, batched = school(conn, items), school(conn, items)
    redis = Redis.from_url(settings.redis_url)
    spec = consumer(redis)
    try:
        for event in stream_events(events(single, items)):
            async with pool.connection() as conn, conn.transaction():
                await spec.handle_batch(conn, [event])
        async with pool.connection() as conn, conn.transaction():
            await spec.handle_batch(conn, stream_events(events(batched, items)))

        one_by_one, at_once = figures(settings, single), figures(settings, batched)
        for name in one_by_one:
            assert same(one_by_one[name], at_once[name]), (name, one_by_one[name], at_once[name])
        # The figures themselves, so that equal is not equally wrong.
        [summary] = at_once["classes"]
        assert summary[1:4] == (2, 3, 2)  # active students, attempts, scored attempts
        assert math.isclose(summary[4], 2 / 3 + 1.0)
        assert summary[5] == 2 and math.isclose(summary[6], 0.9 + 0.2)  # latest θs 0.9, 0.2
        assert summary[7] == 3 and math.isclose(summary[8], 9.5)
        assert len(at_once["theta"]) == 5
        frac = [r for r in at_once["mastery"] if r[0] == "s1" and r[2] == "frac"]
        assert sorted((r[1] or "", r[3]) for r in frac) == [("", 2), ("class", 2)]

        # A later batch: s1's third attempt is not her first (one active student still), s2's
        # first scored attempt once more changes nothing.
        later = [e for e in events(batched, items) if e[0] == "exams.attempt.completed.v1"][:1]
        later[0][1]["attempt_id"] = str(uuid.uuid4())
        async with pool.connection() as conn, conn.transaction():
            await spec.handle_batch(conn, stream_events(later))
        [summary] = figures(settings, batched)["classes"]
        assert summary[1:4] == (2, 4, 3)
        at_once = figures(settings, batched)

        # A batch with an event it cannot handle fails whole.
        bad = stream_events(
            [
                events(batched, items)[0],
                (
                    "exams.response.recorded.v1",
                    {"student_id": batched["s1"], "item_id": str(uuid.uuid4()),
                     "exam_id": batched["exam"], "is_correct": True,
                     "answered_at": T0.isoformat()},
                ),
            ]
        )  # fmt: skip
        with pytest.raises(LookupError):
            async with pool.connection() as conn, conn.transaction():
                await spec.handle_batch(conn, bad)
        assert figures(settings, batched) == at_once
    finally:
        await redis.aclose()
