"""Lesson views and progress become xAPI statements (learning records) with their outbox events;
completing a lesson hands in its lesson assignments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.apis.conftest import make_account
from tests.integration.learning.helpers import make_class, ok

pytestmark = pytest.mark.integration


async def test_reading_and_progress_are_learning_records(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    student, outsider = await make_account(client, "student"), await make_account(client, "student")
    class_id = await make_class(client, teacher, student)
    await make_class(client, await make_account(client, "teacher"), outsider)
    t, s = teacher.headers, student.headers
    course = await ok(await client.post("/api/v1/courses", json={"title": "C"}, headers=t), 201)
    cid = course["course_id"]
    await ok(
        await client.post(f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=t)
    )
    unit = await ok(
        await client.post(f"/api/v1/courses/{cid}/units", json={"title": "U"}, headers=t), 201
    )
    lesson = await ok(
        await client.post(
            f"/api/v1/units/{unit['unit_id']}/lessons", json={"title": "L", "body": "b"}, headers=t
        ),
        201,
    )
    lid = lesson["lesson_id"]
    await ok(await client.post(f"/api/v1/lessons/{lid}/publish", headers=t))
    now = datetime.now(UTC)
    assignment = await ok(
        await client.post(
            "/api/v1/assignments",
            json={"class_id": class_id, "kind": "lesson", "lesson_id": lid, "title": "Read L",
                  "open_at": (now - timedelta(hours=1)).isoformat(),
                  "due_at": (now + timedelta(days=1)).isoformat()},
            headers=t,
        ),
        201,
    )  # fmt: skip
    await ok(await client.get(f"/api/v1/lessons/{lid}", headers=t))  # the teacher: no record
    await ok(await client.get(f"/api/v1/lessons/{lid}", headers=s))
    todo = await ok(await client.get("/api/v1/assignments/todo", headers=s))
    assert todo[0]["work"]["status"] == "in_progress"  # she opened the lesson
    half = await ok(
        await client.post(
            f"/api/v1/lessons/{lid}/progress", json={"progress": 0.5, "seconds": 90}, headers=s
        ),
        201,
    )
    assert half["verb"] == "progressed"
    bad = await client.post(f"/api/v1/lessons/{lid}/progress", json={"progress": 1.5}, headers=s)
    assert bad.status_code == 400 and "progress" in bad.json()["error"]["message"]
    for who in (outsider.headers, t):
        assert (
            await client.post(
                f"/api/v1/lessons/{lid}/progress", json={"completed": True}, headers=who
            )
        ).status_code == 403
    done = await ok(
        await client.post(
            f"/api/v1/lessons/{lid}/progress", json={"completed": True, "seconds": 30}, headers=s
        ),
        201,
    )
    assert done["verb"] == "completed"
    todo = await ok(await client.get("/api/v1/assignments/todo", headers=s))
    assert todo[0]["assignment"]["assignment_id"] == assignment["assignment_id"]
    assert todo[0]["work"]["status"] == "submitted"

    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select s.verb, s.class_id::text, s.statement, o.event_type"
            " from lrs.statements s join events.outbox o on o.aggregate_id = s.statement_id::text"
            " where s.object_id = %s order by s.stored_at",
            (lid,),
        ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("experienced", class_id, "learning.record.recorded.v1"),
        ("progressed", class_id, "learning.record.recorded.v1"),
        ("completed", class_id, "learning.record.recorded.v1"),
    ]
    statement = rows[2][2]
    assert statement["actor"]["account"]["name"] == student.user_id
    assert statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
    assert statement["object"]["id"] == f"urn:dreamseed:lesson:{lid}"
    assert (
        statement["result"]["completion"] is True and statement["result"]["duration"] == "PT30.00S"
    )
    assert statement["version"] == "1.0.3"
