"""A student with data in every store, made through the real API (uvicorn on a socket), with the
lake shipped between acts so her rows sit in several Iceberg snapshots.

Her class, a teacher's exam she takes, a lesson she reads (xAPI statements), an essay file she
hands in (S3 under media/) and the teacher's feedback; policy decisions about her; Redis keys
(her rate-limit window, the outbox relayed into the `events.*` streams).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg.rows import dict_row
from redis.asyncio import Redis

from apis.notifications import rules
from core.consumers import StreamEvent
from core.settings import Settings
from tests.support.lake import ship
from tests.support.school import account, class_with, ok, upload

ESSAY = b"%PDF-1.4\n% my essay about halves\n%%EOF\n"


@dataclass(frozen=True, slots=True)
class Student:
    user_id: str
    email: str
    display_name: str
    attempt_id: str
    media_id: str
    headers: dict[str, str]
    teacher_headers: dict[str, str]


async def notify_of(settings: Settings, assignment_id: str) -> None:
    """Run the notifications consumer's handler on the assignment's created event, in one
    transaction as the consumer does (without the stream: the relay is not running here)."""
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, row_factory=dict_row
    ) as conn:
        cur = await conn.execute(
            "select event_id::text, event_type, aggregate_id, occurred_at, payload"
            " from events.outbox where event_type = 'assignments.assignment.created.v1'"
            " and aggregate_id = %s",
            (assignment_id,),
        )
        row = await cur.fetchone()
        assert row is not None, "the assignment's created event"
        event = StreamEvent("0-0", "events.assignments", **row)
        redis = Redis.from_url(settings.redis_url)
        try:
            spec = rules.consumer(redis, settings.realtime.stream_prefix)
            async with conn.transaction():
                woken = await spec.handle_batch(conn, [event])
            assert woken is not None, "she was notified in-app"
        finally:
            await redis.aclose()


def make_student(api: httpx.Client, settings: Settings, name: str) -> Student:
    _, _, t = account(api, "teacher", "Ms Teacher")
    student_id, email, s = account(api, "student", name)
    klass = class_with(api, t, s, name="5A")
    ship(settings)  # snapshot 1: her registration and membership

    course = ok(api.post("/api/v1/courses", json={"title": "Fractions"}, headers=t), 201)
    unit = ok(
        api.post(
            f"/api/v1/courses/{course['course_id']}/units", json={"title": "Halves"}, headers=t
        ),
        201,
    )
    lesson = ok(
        api.post(
            f"/api/v1/units/{unit['unit_id']}/lessons",
            json={"title": "What is a half?", "body": "Two equal parts."},
            headers=t,
        ),
        201,
    )
    lid = lesson["lesson_id"]
    ok(api.post(f"/api/v1/lessons/{lid}/publish", headers=t))
    ok(
        api.post(
            f"/api/v1/courses/{course['course_id']}/classes",
            json={"class_id": klass["class_id"]},
            headers=t,
        )
    )
    ok(api.get(f"/api/v1/lessons/{lid}", headers=s))
    ok(
        api.post(
            f"/api/v1/lessons/{lid}/progress", json={"completed": True, "seconds": 60}, headers=s
        ),
        201,
    )
    ship(settings)  # snapshot 2: her learning records

    items = [
        ok(
            api.post(
                "/api/v1/items",
                json={"stem": f"{n}/2 of 4?", "options": ["1", "2", "3"], "answer_key": n},
                headers=t,
            ),
            201,
        )["item_id"]
        for n in (1, 2)
    ]
    exam = ok(
        api.post(
            "/api/v1/exams",
            json={"title": "Quiz", "item_ids": items, "class_id": klass["class_id"]},
            headers=t,
        ),
        201,
    )
    attempt = ok(api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=s), 201)
    for item in attempt["items"]:
        ok(
            api.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                json={"item_id": item["item_id"], "choice": 1},
                headers=s,
            ),
            201,
        )
    ok(api.post(f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=s))
    ship(settings)  # snapshot 3: her attempt and responses

    now = datetime.now(UTC)
    essay = ok(
        api.post(
            "/api/v1/assignments",
            json={
                "class_id": klass["class_id"],
                "open_at": (now - timedelta(hours=2)).isoformat(),
                "due_at": (now + timedelta(hours=24)).isoformat(),
                "kind": "task",
                "accepts_files": True,
                "accepts_text": True,
                "title": "Essay",
                "points": 20,
                # listed by id: the event carries her id, the lake her key in a list
                # (assignment_events.student_keys), which the erasure must rewrite too
                "student_ids": [student_id],
            },
            headers=t,
        ),
        201,
    )
    media_id = upload(api, s, ("submission", essay["assignment_id"]), ESSAY)
    ok(
        api.post(
            f"/api/v1/assignments/{essay['assignment_id']}/submissions",
            json={"media_ids": [media_id], "body": f"My essay, by {name}."},
            headers=s,
        ),
        201,
    )
    path = f"/api/v1/assignments/{essay['assignment_id']}/students/{student_id}"
    ok(api.post(f"{path}/grade", json={"points": 15, "feedback": f"Good, {name}."}, headers=t))

    # She asks the tutor in her class (no model configured: the grounded fallback); her words
    # are kept in tutor.turns and the turn event reaches the lake's tutor_turns.
    chat = ok(
        api.post("/api/v1/tutor/conversations", json={"class_id": klass["class_id"]}, headers=s),
        201,
    )
    with api.stream(
        "POST",
        f"/api/v1/tutor/conversations/{chat['conversation_id']}/messages",
        json={"text": f"I am {name}. What is a half?"},
        headers=s,
    ) as reply:
        assert reply.status_code == 200, reply.read()
        reply.read()
    # The notifications consumer's rule for the essay: her in-app notification and queued e-mail.
    asyncio.run(notify_of(settings, essay["assignment_id"]))
    ship(settings, copies=True)  # snapshot 4: submission, tutor turn, notification; the copies
    return Student(student_id, email, name, attempt["attempt_id"], media_id, s, t)
