"""The notification rules on a whole batch at once (one query per rule, one `notify`), through a
real consumer on Redis Streams and PostgreSQL: every completion of an exam in one batch tells its
student, and the teacher hears once that the whole class finished (not once per completion that
finds the class complete); assignments posted to a class and to listed students, and returned
work, each make their notes once; a poison event in the batch is parked and the rest commit."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
import pytest_asyncio
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from redis.asyncio import Redis

from apis.notifications.rules import consumer, source_uuid
from core.consumers import Consumer, ConsumerConfig, ConsumerSpec, StreamEvent, dead_letter_stream
from core.db import Pool, create_pool
from core.ids import new_id
from core.settings import Settings
from tests.integration.notifications.test_rules_sweeps import account

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    p = create_pool(settings.database_url, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


@pytest_asyncio.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    r = Redis.from_url(settings.redis_url, decode_responses=True)
    yield r
    await r.aclose()


def klass(conn: psycopg.Connection[Any], teacher: str, students: list[str]) -> str:
    class_id = str(new_id())
    conn.execute(
        "insert into classes.classes (class_id, name, teacher_id, join_code)"
        " values (%s, 'Batch', %s, %s)",
        (class_id, teacher, secrets.token_hex(5)),
    )
    for s in students:
        conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            (class_id, s),
        )
    return class_id


def fields(event_type: str, payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    event_id = str(new_id())
    return event_id, {
        "event_id": event_id,
        "event_type": event_type,
        "aggregate_id": "",
        "occurred_at": "2026-12-07T00:00:00+00:00",
        "payload": msgspec.json.encode(payload).decode(),
    }


def notes_of(settings: Settings, users: list[str]) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "select user_id::text, kind, title, body, link, source_event_id::text"
            " from notifications.notifications where user_id = any(%s::uuid[])"
            " order by kind, user_id, link",
            (users,),
        ).fetchall()


def class_finished_key(exam_id: str, members: int) -> str:
    return source_uuid(f"exam_finished_by_class:{exam_id}:{members}")


def completed_exam(settings: Settings, size: int) -> tuple[str, list[str], str, list[str]]:
    """A teacher, a class of `size` students and an exam each of them completed (teacher,
    students, exam, attempts)."""
    with psycopg.connect(settings.database_url) as conn:
        teacher = account(conn, "teacher")
        students = [account(conn, "student") for _ in range(size)]
        class_id = klass(conn, teacher, students)
        item = str(new_id())
        conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key)"
            " values (%s, %s, 'Half?', '[\"1\", \"2\"]', 0)",
            (item, teacher),
        )
        exam = str(new_id())
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Fractions', %s::uuid[])",
            (exam, teacher, class_id, [item]),
        )
        attempts = [str(new_id()) for _ in students]
        for attempt, student in zip(attempts, students, strict=True):
            conn.execute(
                "insert into exams.attempts (attempt_id, exam_id, student_id, status,"
                " completed_at, raw_score, max_score) values (%s, %s, %s, 'completed', now(),"
                " 1, 1)",
                (attempt, exam, student),
            )
    return teacher, students, exam, attempts


async def drain(member: Consumer) -> None:
    while await member.step():
        pass


async def test_one_batch_of_completions_tells_the_teacher_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    teacher, students, exam, attempts = completed_exam(settings, 3)
    prefix = f"test:{secrets.token_hex(4)}:events."
    member = Consumer(
        consumer(redis, prefix), pool, redis, "batch", ConsumerConfig(stream_prefix=prefix)
    )
    await member.ensure_groups()
    sent = []
    for attempt, student in zip(attempts, students, strict=True):  # one batch: all complete
        event_id, f = fields(
            "exams.attempt.completed.v1",
            {"exam_id": exam, "attempt_id": attempt, "student_id": student, "raw_score": 1,
             "max_score": 1},
        )  # fmt: skip
        await redis.xadd(prefix + "exams", f)
        sent.append(event_id)
    await drain(member)
    told = notes_of(settings, [teacher, *students])
    results = [n for n in told if n["kind"] == "exam_result_ready"]
    assert sorted((n["user_id"], n["source_event_id"]) for n in results) == sorted(
        zip(students, sent, strict=True)
    )
    finished = [n for n in told if n["kind"] == "exam_finished_by_class"]
    assert [(n["user_id"], n["body"], n["source_event_id"]) for n in finished] == [
        (teacher, "All 3 students of the class finished.", class_finished_key(exam, 3))
    ]
    # A later completion (a redelivered one under a new id, or a retake) tells nobody twice.
    _, f = fields(
        "exams.attempt.completed.v1",
        {"exam_id": exam, "attempt_id": attempts[1], "student_id": students[1], "raw_score": 1,
         "max_score": 1},
    )  # fmt: skip
    await redis.xadd(prefix + "exams", f)
    await drain(member)
    again = notes_of(settings, [teacher])
    assert [n["kind"] for n in again] == ["exam_finished_by_class"]
    for d in ("assignments", "exams", "content"):
        await redis.delete(prefix + d)


async def test_a_mixed_batch_with_a_poison_event(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        teacher = account(conn, "teacher")
        students = [account(conn, "student") for _ in range(4)]
        class_id = klass(conn, teacher, students)
        to_class, to_two = str(new_id()), str(new_id())
        for assignment_id, title, listed in (
            (to_class, "Essay", None),
            (to_two, "Poem", students[:2]),
        ):
            conn.execute(
                "insert into assignments.assignments (assignment_id, owner_id, class_id, kind,"
                " title, accepts_text, open_at, due_at, late_policy, points, student_ids)"
                " values (%s, %s, %s, 'task', %s, true, now() - interval '1 day',"
                " '2026-12-10 12:00+00', 'accept', 10, %s::uuid[])",
                (assignment_id, teacher, class_id, title, listed),
            )
    prefix = f"test:{secrets.token_hex(4)}:events."
    member = Consumer(
        consumer(redis, prefix),
        pool,
        redis,
        "batch",
        ConsumerConfig(stream_prefix=prefix, max_deliveries=1, block_ms=100),
    )
    await member.ensure_groups()
    made = {}
    for name, event_type, payload in (
        ("class", "assignments.assignment.created.v1", {"assignment_id": to_class}),
        ("two", "assignments.assignment.created.v1", {"assignment_id": to_two}),
        ("poison", "assignments.work.returned.v1", {"assignment_id": to_class}),
        ("returned", "assignments.work.returned.v1",
         {"assignment_id": to_class, "student_id": students[3], "points_awarded": 8.5}),
        ("unknown", "assignments.work.returned.v1",
         {"assignment_id": str(new_id()), "student_id": students[3]}),
    ):  # fmt: skip
        event_id, f = fields(event_type, payload)
        await redis.xadd(prefix + "assignments", f)
        if name == "class":  # the relay published it twice
            await redis.xadd(prefix + "assignments", f)
        made[name] = event_id
    await drain(member)
    told = notes_of(settings, students)
    posted = [n for n in told if n["kind"] == "assignment_posted"]
    assert sorted((n["user_id"], n["title"], n["source_event_id"]) for n in posted) == sorted(
        [(s, "New assignment: Essay", made["class"]) for s in students]
        + [(s, "New assignment: Poem", made["two"]) for s in students[:2]]
    )
    assert {n["body"] for n in posted} == {"Due 2026-12-10 12:00 UTC."}
    returned = [n for n in told if n["kind"] == "submission_returned"]
    assert [(n["user_id"], n["body"], n["source_event_id"]) for n in returned] == [
        (students[3], "Points: 8.5.", made["returned"])
    ]
    parked = await redis.xrange(dead_letter_stream(prefix, "notifications"))
    assert [(e[1]["event_id"], "student_id" in e[1]["error"]) for e in parked] == [
        (made["poison"], True)
    ]
    assert member.handled == 4 and member.parked == 1
    for d in ("assignments", "exams", "content", "deadletter.notifications"):
        await redis.delete(prefix + d)


async def test_two_replicas_completing_one_class_at_once_tell_the_teacher_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    """Two members of the group, each with one of the last two completions in its batch, in
    transactions that overlap: neither sees the other's note before writing its own, and the
    note's key (exam and class size, not the event) keeps it to one."""
    teacher, students, exam, attempts = completed_exam(settings, 2)
    spec = consumer(redis, f"test:{secrets.token_hex(4)}:events.")
    events = []
    for attempt, student in zip(attempts, students, strict=True):
        _, f = fields(
            "exams.attempt.completed.v1",
            {"exam_id": exam, "attempt_id": attempt, "student_id": student, "raw_score": 1,
             "max_score": 1},
        )  # fmt: skip
        events.append(StreamEvent.from_entry("exams", "0-1", f))
    async with pool.connection() as first, pool.connection() as second:
        async with first.transaction():
            await spec.handle_batch(first, [events[0]])
            # The second replica's batch runs before the first commits; its insert waits on the
            # first's row and, once that commits, finds the key taken.
            pid = second.info.backend_pid
            racing = asyncio.create_task(_in_transaction(second, spec, events[1]))
            await _until_done_or_blocked(racing, first, pid)
        await racing
    finished = [n for n in notes_of(settings, [teacher]) if n["kind"] == "exam_finished_by_class"]
    assert [n["source_event_id"] for n in finished] == [class_finished_key(exam, 2)]
    results = [n for n in notes_of(settings, students) if n["kind"] == "exam_result_ready"]
    assert len(results) == 2


async def _in_transaction(
    conn: AsyncConnection[Any], spec: ConsumerSpec, event: StreamEvent
) -> None:
    async with conn.transaction():
        await spec.handle_batch(conn, [event])


async def _until_done_or_blocked(
    task: asyncio.Task[None], conn: AsyncConnection[Any], pid: int
) -> None:
    """Until the task finished or its backend `pid` waits on a lock (at most 10 s)."""
    for _ in range(500):
        if task.done() or await _waits_on_a_lock(conn, pid):
            return
        await asyncio.sleep(0.02)


async def _waits_on_a_lock(conn: AsyncConnection[Any], pid: int) -> bool:
    cur = await conn.execute(
        "select wait_event_type = 'Lock' as waits from pg_stat_activity where pid = %s", (pid,)
    )
    row = await cur.fetchone()
    return bool(row and row["waits"])
